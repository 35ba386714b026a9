package datastore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/lab"
)

// fastLook shortens the banner wait for a test that does not measure it.
func fastLook(t *testing.T) {
	t.Helper()
	old := LookWait
	LookWait = 100 * time.Millisecond
	t.Cleanup(func() { LookWait = old })
}

// peer serves every connection to a fresh 127.0.0.1 port with serve until
// the test ends, and returns the port as an endpoint.
func peer(t *testing.T, serve func(c net.Conn)) Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return endpointOf(t, ln.Addr().String())
}

func endpointOf(t *testing.T, addr string) Endpoint {
	t.Helper()
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return Endpoint{Host: host, IP: net.ParseIP(host), Port: n}
}

// readRequest reads an HTTP request's head, as a server would before
// answering it.
func readRequest(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

// hold keeps a connection open until the client closes it.
func hold(c net.Conn) {
	c.SetReadDeadline(time.Time{})
	io.Copy(io.Discard, c)
}

// describe says what a look saw, as a test failure or log line shows it.
func describe(l FirstLook) string {
	var parts []string
	if l.TLS {
		s := "TLS"
		if l.Cert != nil {
			s += fmt.Sprintf(" (cert %q)", l.Cert.Subject)
		}
		parts = append(parts, s)
	}
	if l.Banner != nil {
		parts = append(parts, fmt.Sprintf("banner %d B %.40q", len(l.Banner), l.Banner))
	}
	if l.HTTP != nil {
		parts = append(parts, fmt.Sprintf("HTTP %d, %d headers, body %d B %.40q, truncated=%v",
			l.HTTP.Status, len(l.HTTP.Header), len(l.HTTP.Body), l.HTTP.Body, l.HTTP.Truncated))
	}
	if l.Reply != nil {
		parts = append(parts, fmt.Sprintf("reply %d B %.40q", len(l.Reply), l.Reply))
	}
	if l.Silent {
		parts = append(parts, "silent")
	}
	if l.Closed {
		parts = append(parts, "closed")
	}
	if l.Err != nil {
		parts = append(parts, "error: "+l.Err.Error())
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// timedLook looks at ep and says how long it took.
func timedLook(ep Endpoint, timeout time.Duration) (FirstLook, time.Duration) {
	start := time.Now()
	l := Look(context.Background(), ep, timeout)
	return l, time.Since(start)
}

// lookAllocs is how many bytes a look at ep allocates.
func lookAllocs(ep Endpoint, timeout time.Duration) (FirstLook, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l := Look(context.Background(), ep, timeout)
	runtime.ReadMemStats(&after)
	return l, after.TotalAlloc - before.TotalAlloc
}

func TestLookBanner(t *testing.T) {
	fastLook(t)
	const banner = "SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"
	heard := make(chan int, 1)
	ep := peer(t, func(c net.Conn) {
		io.WriteString(c, banner)
		n, _ := io.Copy(io.Discard, c)
		heard <- int(n)
	})
	l := Look(context.Background(), ep, 5*time.Second)
	if string(l.Banner) != banner || l.HTTP != nil || l.Reply != nil || l.Silent || l.Closed || l.TLS {
		t.Errorf("Look(banner server) = %s, want banner %q alone", describe(l), banner)
	}
	if n := <-heard; n != 0 {
		t.Errorf("a server that speaks first was sent %d bytes, want none (no HTTP request to an SSH, SMTP or MySQL server)", n)
	}
}

func TestLookHTTP(t *testing.T) {
	fastLook(t)
	type request struct {
		method, path, host, agent string
		close                     bool
	}
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- request{r.Method, r.URL.Path, r.Host, r.UserAgent(), r.Close}
		w.Header().Set("X-Clickhouse-Summary", `{"read_rows":"0"}`)
		io.WriteString(w, "Ok.\n")
	}))
	defer srv.Close()
	ep := endpointOf(t, srv.URL)

	l := Look(context.Background(), ep, 5*time.Second)
	if l.HTTP == nil || l.HTTP.Status != 200 || string(l.HTTP.Body) != "Ok.\n" || l.HTTP.Header.Get("X-ClickHouse-Summary") == "" ||
		l.Banner != nil || l.Reply != nil || l.TLS || l.Silent || l.Closed {
		t.Errorf("Look(HTTP server) = %s, want HTTP 200 \"Ok.\\n\" with its X-ClickHouse-Summary header", describe(l))
	}
	want := request{"GET", "/", ep.Addr(), LookUserAgent, true}
	if r := <-got; r != want {
		t.Errorf("the HTTP server was asked %+v, want %+v", r, want)
	}

	// The Host header carries the name the user gave, or the address when
	// the name could rewrite the request.
	for _, tc := range []struct{ host, want string }{
		{"db.example.test", "db.example.test:" + strconv.Itoa(ep.Port)},
		{"evil\r\nX-Injected: 1", ep.Addr()},
	} {
		named := ep
		named.Host = tc.host
		Look(context.Background(), named, 5*time.Second)
		if r := <-got; r.host != tc.want {
			t.Errorf("Look(%q) sent Host %q, want %q", tc.host, r.host, tc.want)
		}
	}
}

func TestLookAnswers(t *testing.T) {
	fastLook(t)
	// PostgreSQL answers a GET with an ErrorResponse and closes.
	pgError := "E\x00\x00\x00\x5bSFATAL\x00VFATAL\x00C0A000\x00Munsupported frontend protocol 1347375956.8224: server supports 3.0 to 3.0\x00\x00"
	for _, tc := range []struct {
		name   string
		answer string // "" for none
		close  bool
		check  func(FirstLook) bool
		want   string
	}{
		{"raw HTTP held open", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nOk.\n", false,
			func(l FirstLook) bool {
				return l.HTTP != nil && l.HTTP.Status == 200 && string(l.HTTP.Body) == "Ok.\n" && !l.HTTP.Truncated
			},
			`HTTP 200 "Ok.\n"`},
		{"chunked HTTP held open", "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nOk.\r\n1\r\n\n\r\n0\r\n\r\n", false,
			func(l FirstLook) bool { return l.HTTP != nil && l.HTTP.Status == 404 && string(l.HTTP.Body) == "Ok.\n" },
			`HTTP 404 "Ok.\n" de-chunked`},
		{"bare LF HTTP/1.0", "HTTP/1.0 503 Service Unavailable\nServer: odd\n\nbusy", true,
			func(l FirstLook) bool {
				return l.HTTP != nil && l.HTTP.Status == 503 && l.HTTP.Header.Get("Server") == "odd" && string(l.HTTP.Body) == "busy"
			},
			`HTTP 503 "busy"`},
		{"PostgreSQL-like", pgError, true,
			func(l FirstLook) bool { return string(l.Reply) == pgError && l.HTTP == nil && !l.Closed },
			"the ErrorResponse as Reply"},
		{"reply held open", "-ERR unknown command 'GET'\r\n", false,
			func(l FirstLook) bool { return string(l.Reply) == "-ERR unknown command 'GET'\r\n" },
			"the reply"},
		{"HTTP/ lookalike", "HTTP/garbage\r\n\r\n", true,
			func(l FirstLook) bool { return string(l.Reply) == "HTTP/garbage\r\n\r\n" && l.HTTP == nil },
			"a Reply, not HTTP"},
		{"closer", "", true,
			func(l FirstLook) bool {
				return l.Closed && !l.Silent && l.Reply == nil && l.HTTP == nil && !l.TLS && l.Err == nil
			},
			"Closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := peer(t, func(c net.Conn) {
				if tc.answer == "" {
					// The closer hangs up on whatever it is sent,
					// a TLS ClientHello as well.
					c.Read(make([]byte, 1))
					return
				}
				if readRequest(c) != nil {
					return
				}
				io.WriteString(c, tc.answer)
				if !tc.close {
					hold(c)
				}
			})
			// An answer ends when it is complete, or when the server
			// pauses: never at the timeout.
			const timeout = 20 * time.Second
			l, took := timedLook(ep, timeout)
			if !tc.check(l) {
				t.Errorf("Look(%s) = %s, want %s", tc.name, describe(l), tc.want)
			}
			if took > timeout/2 {
				t.Errorf("Look(%s) took %v, want the answer's end to end it, not the %v timeout", tc.name, took, timeout)
			}
		})
	}
}

func TestLookClosedBeforeSpeaking(t *testing.T) {
	fastLook(t)
	var mu sync.Mutex
	conns := 0
	ep := peer(t, func(c net.Conn) {
		mu.Lock()
		conns++
		mu.Unlock()
	})
	l := Look(context.Background(), ep, 5*time.Second)
	if !l.Closed || l.Silent || l.Err != nil {
		t.Errorf("Look(server that closes at once) = %s, want Closed", describe(l))
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("a server that closed before we spoke got %d connections, want 1 (no TLS try: TLS servers wait for us)", conns)
	}
}

func TestLookTarpit(t *testing.T) {
	fastLook(t)
	var mu sync.Mutex
	conns := 0
	ep := peer(t, func(c net.Conn) {
		mu.Lock()
		conns++
		mu.Unlock()
		hold(c)
	})
	const timeout = 1500 * time.Millisecond
	l, took := timedLook(ep, timeout)
	if !l.Silent || l.Closed || l.Reply != nil || l.Err != nil {
		t.Errorf("Look(tarpit) = %s, want Silent", describe(l))
	}
	if took > timeout+time.Second {
		t.Errorf("Look(tarpit) took %v, want at most its %v timeout", took, timeout)
	}

	// ctx ends a look at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	l = Look(ctx, ep, time.Minute)
	if took := time.Since(start); !errors.Is(l.Err, context.Canceled) || took > 10*time.Second {
		t.Errorf("Look(tarpit) cancelled after 150ms = %s after %v, want context.Canceled at once", describe(l), took)
	}
}

func TestLookRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := endpointOf(t, ln.Addr().String())
	ln.Close()
	if l := Look(context.Background(), ep, 5*time.Second); l.Err == nil || l.Closed || l.Silent {
		t.Errorf("Look(closed port) = %s, want the connect error", describe(l))
	}
}

// Whatever a peer sends, a look costs at most its timeout and holds its
// caps.
func TestLookHostilePeers(t *testing.T) {
	fastLook(t)
	endless := bytes.Repeat([]byte("x"), 64<<10)
	hugeHeader := append([]byte("HTTP/1.1 200 OK\r\nServer: big\r\nX-Big: "), bytes.Repeat([]byte("a"), 10<<20)...)
	drip := func(c net.Conn, prefix string) {
		io.WriteString(c, prefix)
		for {
			if _, err := c.Write([]byte("z")); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn)
		check func(FirstLook) bool
		want  string
	}{
		{"banner drip", func(c net.Conn) { drip(c, "") },
			func(l FirstLook) bool { return len(l.Banner) > 0 && len(l.Banner) <= maxLookBytes },
			"a banner of at most 4 KB"},
		{"HTTP head drip", func(c net.Conn) {
			if readRequest(c) == nil {
				drip(c, "HTTP/1.1 200 OK\r\nX-Drip: ")
			}
		}, func(l FirstLook) bool { return l.HTTP != nil && l.HTTP.Status == 200 && l.HTTP.Truncated },
			"HTTP 200, truncated"},
		{"endless banner", func(c net.Conn) {
			for {
				if _, err := c.Write(endless); err != nil {
					return
				}
			}
		}, func(l FirstLook) bool { return len(l.Banner) == maxLookBytes }, "a 4 KB banner"},
		{"endless reply", func(c net.Conn) {
			if readRequest(c) != nil {
				return
			}
			for {
				if _, err := c.Write(endless); err != nil {
					return
				}
			}
		}, func(l FirstLook) bool { return len(l.Reply) == maxLookBytes }, "a 4 KB reply"},
		{"endless body", func(c net.Conn) {
			if readRequest(c) != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
			for {
				if _, err := c.Write(endless); err != nil {
					return
				}
			}
		}, func(l FirstLook) bool {
			return l.HTTP != nil && l.HTTP.Status == 200 && len(l.HTTP.Body) == maxLookBytes && l.HTTP.Truncated
		}, "HTTP 200 with the body's first 4 KB"},
		{"10 MB header", func(c net.Conn) {
			if readRequest(c) == nil {
				c.Write(hugeHeader)
			}
		}, func(l FirstLook) bool {
			return l.HTTP != nil && l.HTTP.Status == 200 && l.HTTP.Header.Get("Server") == "big" && l.HTTP.Truncated &&
				len(l.HTTP.Header.Get("X-Big")) <= maxHTTPValue
		}, "HTTP 200, the header cut at its cap"},
		{"many headers", func(c net.Conn) {
			if readRequest(c) != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			for i := range 1000 {
				fmt.Fprintf(c, "X-H%d: %d\r\n", i, i)
			}
			io.WriteString(c, "\r\n")
		}, func(l FirstLook) bool {
			return l.HTTP != nil && len(l.HTTP.Header) <= maxHTTPHeaders && l.HTTP.Truncated
		}, "at most 64 headers, truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := peer(t, tc.serve)
			const timeout = 2 * time.Second
			start := time.Now()
			l, alloc := lookAllocs(ep, timeout)
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("Look(%s) took %v, want at most its %v timeout", tc.name, took, timeout)
			}
			if !tc.check(l) {
				t.Errorf("Look(%s) = %s, want %s", tc.name, describe(l), tc.want)
			}
			// What it holds is capped at a few KB; allow for the runtime's
			// own bookkeeping, not for the peer's megabytes.
			if alloc > 1<<20 {
				t.Errorf("Look(%s) allocated %d bytes, want under 1 MB whatever the peer sends", tc.name, alloc)
			}
			t.Logf("Look(%s) = %s; %v, %d bytes allocated", tc.name, describe(l), time.Since(start).Round(time.Millisecond), alloc)
		})
	}
}

// selfSigned makes a certificate for a test's TLS server.
func selfSigned(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestLookTLSHTTP(t *testing.T) {
	fastLook(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Ok.\n")
	}))
	// Our plain request is expected: it tells us the port wants TLS.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	ep := endpointOf(t, srv.URL)
	l := Look(context.Background(), ep, 5*time.Second)
	if !l.TLS || l.HTTP == nil || l.HTTP.Status != 200 || string(l.HTTP.Body) != "Ok.\n" {
		t.Errorf("Look(HTTPS server) = %s, want TLS and HTTP 200 \"Ok.\\n\" inside", describe(l))
	}
	if want := sha256Hex(srv.Certificate().Raw); l.Cert == nil || l.Cert.SHA256 != want {
		t.Errorf("Look(HTTPS server).Cert = %+v, want the server's certificate (sha256 %s)", l.Cert, want)
	}
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// tlsPeer serves TLS with a fresh certificate; a client that does not
// start with a TLS handshake gets what plain says.
func tlsPeer(t *testing.T, cn string, plain func(c net.Conn), inside func(raw net.Conn, tc *tls.Conn)) Endpoint {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t, cn)}}
	return peer(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		first, err := r.Peek(1)
		if err != nil {
			return
		}
		pc := prefixConn{c, r}
		if first[0] != 0x16 {
			plain(pc)
			return
		}
		tc := tls.Server(pc, cfg)
		if tc.Handshake() != nil {
			return
		}
		inside(c, tc)
	})
}

func TestLookTLS(t *testing.T) {
	fastLook(t)
	alert := func(c net.Conn) { c.Write([]byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46}) }
	garbage := bytes.Repeat([]byte{0x17, 0xfe, 0x00}, 20000)
	for _, tc := range []struct {
		name   string
		plain  func(c net.Conn)
		inside func(raw net.Conn, tc *tls.Conn)
		check  func(FirstLook) bool
		want   string
	}{
		{"alert then HTTP", alert, func(_ net.Conn, c *tls.Conn) {
			if readRequest(c) == nil {
				io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
			}
		}, func(l FirstLook) bool { return l.TLS && l.HTTP != nil && l.HTTP.Status == 401 }, "TLS, HTTP 401"},
		{"alert then banner", alert, func(_ net.Conn, c *tls.Conn) {
			io.WriteString(c, "* OK IMAP4rev1 ready\r\n")
			hold(c)
		}, func(l FirstLook) bool { return l.TLS && string(l.Banner) == "* OK IMAP4rev1 ready\r\n" }, "TLS, the banner"},
		{"close then native reply", func(net.Conn) {}, func(_ net.Conn, c *tls.Conn) {
			if readRequest(c) == nil {
				io.WriteString(c, "\x02\x00\x00\x00unexpected packet")
			}
		}, func(l FirstLook) bool { return l.TLS && strings.HasSuffix(string(l.Reply), "unexpected packet") }, "TLS, the reply"},
		{"raw garbage after the handshake", alert, func(raw net.Conn, _ *tls.Conn) {
			raw.Write(garbage)
			hold(raw)
		}, func(l FirstLook) bool { return l.TLS && l.Cert != nil && l.Closed && l.Banner == nil }, "TLS, then Closed"},
		{"endless garbage inside TLS", alert, func(_ net.Conn, c *tls.Conn) {
			for {
				if _, err := c.Write(garbage); err != nil {
					return
				}
			}
		}, func(l FirstLook) bool { return l.TLS && len(l.Banner) == maxLookBytes }, "TLS, a 4 KB banner"},
		{"silent inside TLS", alert, func(_ net.Conn, c *tls.Conn) { hold(c) },
			func(l FirstLook) bool { return l.TLS && l.Silent && l.Cert != nil }, "TLS, Silent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := tlsPeer(t, "db.example.test", tc.plain, tc.inside)
			const timeout = 3 * time.Second
			l, took := timedLook(ep, timeout)
			if !tc.check(l) {
				t.Errorf("Look(%s) = %s, want %s", tc.name, describe(l), tc.want)
			}
			if l.TLS && (l.Cert == nil || l.Cert.Subject != "CN=db.example.test" || !l.Cert.SelfSigned) {
				t.Errorf("Look(%s).Cert = %+v, want the self-signed CN=db.example.test", tc.name, l.Cert)
			}
			if took > timeout+time.Second {
				t.Errorf("Look(%s) took %v, want at most its %v timeout", tc.name, took, timeout)
			}
		})
	}
}

// A port that answers everything with what looks like a TLS alert and then
// endless garbage fails the TLS try quickly and keeps its plain reply.
func TestLookTLSGarbage(t *testing.T) {
	fastLook(t)
	junk := append([]byte{0x15, 0x03, 0x03, 0x40, 0x00}, bytes.Repeat([]byte{0xa5}, 64<<10)...)
	ep := peer(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return
		}
		for {
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	})
	const timeout = 3 * time.Second
	start := time.Now()
	l, alloc := lookAllocs(ep, timeout)
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("Look(TLS garbage) took %v, want at most its %v timeout", took, timeout)
	}
	if l.TLS || len(l.Reply) != maxLookBytes || l.Reply[0] != 0x15 {
		t.Errorf("Look(TLS garbage) = %s, want its 4 KB plain reply and no TLS", describe(l))
	}
	if alloc > 1<<20 {
		t.Errorf("Look(TLS garbage) allocated %d bytes, want under 1 MB", alloc)
	}
}

func TestParseHTTP(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ok     bool
		status int
		body   string
		cut    bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOk.extra", true, 200, "Ok.", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOk.", true, 200, "Ok.", true},
		{"HTTP/1.1 204 No Content\r\n\r\nstray", true, 204, "", false},
		{"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nab\r\n", true, 200, "ab", false},
		{"HTTP/1.1 200 OK\r\nServer: x\r\n", true, 200, "", true},
		{"HTTP/2 301 Moved\r\n\r\n", true, 301, "", false},
		{"HTTP/1.1 20 OK\r\n\r\n", false, 0, "", false},
		{"HTTP/1.1 abc OK\r\n\r\n", false, 0, "", false},
		{"SSH-2.0-x\r\n\r\n", false, 0, "", false},
		{"", false, 0, "", false},
	} {
		l, ok := parseHTTP([]byte(tc.in))
		if ok != tc.ok || ok && (l.Status != tc.status || string(l.Body) != tc.body || l.Truncated != tc.cut) {
			t.Errorf("parseHTTP(%q) = %+v, %v, want status %d body %q truncated=%v, %v", tc.in, l, ok, tc.status, tc.body, tc.cut, tc.ok)
		}
	}
}

func FuzzParseHTTP(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nOk.\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nOk.\r\n0\r\n\r\n",
		"HTTP/1.0 400 Bad Request\nServer: x\n\nClient sent an HTTP request to an HTTPS server.",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 9000),
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nab",
		"E\x00\x00\x00\x5bSFATAL\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		limit := answerLimit()
		if n := limit(b); n < 0 || n > maxHTTPHead+maxLookBytes {
			t.Errorf("answerLimit(%q) = %d, want 0..%d", b, n, maxHTTPHead+maxLookBytes)
		}
		l, ok := parseHTTP(b)
		if !ok {
			return
		}
		if l.Status < 100 || l.Status > 999 || len(l.Body) > maxLookBytes {
			t.Errorf("parseHTTP(%q) = status %d, body %d bytes", b, l.Status, len(l.Body))
		}
		n := 0
		for k, vs := range l.Header {
			n += len(vs)
			if len(k) > maxHTTPName || slices.ContainsFunc(vs, func(v string) bool { return len(v) > maxHTTPValue }) {
				t.Errorf("parseHTTP(%q) kept header %.40q past its cap", b, k)
			}
		}
		if n > maxHTTPHeaders {
			t.Errorf("parseHTTP(%q) kept %d headers, want at most %d", b, n, maxHTTPHeaders)
		}
	})
}

// TestLookLab looks at each kind of real lab server, as a scan does, and
// logs what a look costs there (median of a few, with the default banner
// wait).
func TestLookLab(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	at := func(host string, port int) Endpoint { return Endpoint{Host: host, IP: net.ParseIP(host), Port: port} }
	for _, tc := range []struct {
		name  string
		ep    Endpoint
		check func(FirstLook) bool
		want  string
	}{
		{"nginx", at(lab.WebHost, lab.WebPort), func(l FirstLook) bool {
			return !l.TLS && l.HTTP != nil && l.HTTP.Status == 200 && string(l.HTTP.Body) == "Ok.\n"
		}, `HTTP 200 "Ok.\n"`},
		{"ClickHouse HTTP", at(lab.Open.Host, lab.Open.HTTPPort), func(l FirstLook) bool {
			return !l.TLS && l.HTTP != nil && l.HTTP.Status == 200
		}, "HTTP 200"},
		// The native port answers a GET in HTTP, to send browsers to 8123.
		{"ClickHouse native", at(lab.Open.Host, lab.Open.NativePort), func(l FirstLook) bool {
			return !l.TLS && l.HTTP != nil && l.HTTP.Status == 400 && bytes.Contains(l.HTTP.Body, []byte("clickhouse-client"))
		}, `HTTP 400 "Port 9000 is for clickhouse-client program"`},
		{"ClickHouse HTTPS", at(lab.TLS.Host, lab.TLS.HTTPPort), func(l FirstLook) bool {
			return l.TLS && l.Cert != nil && l.HTTP != nil && l.HTTP.Status == 200
		}, "TLS, HTTP 200 inside"},
		{"ClickHouse native TLS", at(lab.TLS.Host, lab.TLS.NativePort), func(l FirstLook) bool {
			return l.TLS && l.Cert != nil && l.HTTP == nil
		}, "TLS"},
		// PostgreSQL reads our GET as a startup packet of absurd length,
		// logs "invalid length of startup packet" and hangs up without a
		// word; it does the same to the TLS try (and does TLS only after
		// an SSLRequest).
		{"PostgreSQL", at(lab.PGOpen.Host, lab.PGOpen.Port), func(l FirstLook) bool {
			return !l.TLS && l.Closed && l.Reply == nil
		}, "Closed"},
		{"PostgreSQL TLS-only", at(lab.PGTLS.Host, lab.PGTLS.Port), func(l FirstLook) bool {
			return !l.TLS && l.Closed && l.Reply == nil
		}, "Closed"},
		// A greeting later than the banner wait (a loaded server) comes
		// back as the start of the reply to our GET.
		{"MariaDB", at(lab.MariaDBOpen.Host, lab.MariaDBOpen.Port), func(l FirstLook) bool {
			g := l.Greeting()
			return len(g) > 4 && g[4] == 10 && l.HTTP == nil
		}, "a protocol 10 greeting as Banner or at the start of the Reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const runs, timeout = 3, 10 * time.Second
			var costs []time.Duration
			var l FirstLook
			for range runs {
				var took time.Duration
				l, took = timedLook(tc.ep, timeout)
				costs = append(costs, took)
				if !tc.check(l) {
					t.Errorf("Look(%s %s) = %s, want %s", tc.name, tc.ep, describe(l), tc.want)
				}
			}
			slices.Sort(costs)
			t.Logf("Look(%s %s) = %s; median %v (%v..%v) over %d", tc.name, tc.ep, describe(l),
				costs[runs/2].Round(time.Millisecond), costs[0].Round(time.Millisecond), costs[runs-1].Round(time.Millisecond), runs)
		})
	}
}

// A port that hangs up on our request and then sits on the TLS try still
// costs one timeout in all, and keeps what the plain look saw.
func TestLookTLSTryTarpit(t *testing.T) {
	fastLook(t)
	ep := peer(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		if _, err := c.Read(b); err != nil || b[0] == 0x16 {
			hold(c) // the ClientHello gets nothing back
		}
	})
	const timeout = 1500 * time.Millisecond
	l, took := timedLook(ep, timeout)
	if !l.Closed || l.TLS || l.Err != nil {
		t.Errorf("Look(closer whose TLS try is a tarpit) = %s, want Closed", describe(l))
	}
	if took > timeout+time.Second {
		t.Errorf("Look(closer whose TLS try is a tarpit) took %v, want at most its %v timeout in all", took, timeout)
	}
}

func TestHTTPRequestHost(t *testing.T) {
	v4, v6 := net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::7")
	for _, tc := range []struct {
		ep   Endpoint
		tls  bool
		want string
	}{
		{Endpoint{Host: "db.example.test", IP: v4, Port: 8123}, false, "db.example.test:8123"},
		{Endpoint{Host: "db.example.test", IP: v4, Port: 80}, false, "db.example.test"},
		{Endpoint{Host: "db.example.test", IP: v4, Port: 443}, true, "db.example.test"},
		{Endpoint{Host: "db.example.test", IP: v4, Port: 443}, false, "db.example.test:443"},
		{Endpoint{Host: "2001:db8::7", IP: v6, Port: 80}, false, "[2001:db8::7]"},
		{Endpoint{Host: "2001:db8::7", IP: v6, Port: 9000}, false, "[2001:db8::7]:9000"},
		{Endpoint{Host: "fe80::1%eth0", IP: net.ParseIP("fe80::1"), Zone: "eth0", Port: 9000}, false, "[fe80::1]:9000"},
		{Endpoint{Host: "", IP: v4, Port: 9000}, false, "192.0.2.7:9000"},
		{Endpoint{Host: "a b", IP: v4, Port: 9000}, false, "192.0.2.7:9000"},
		{Endpoint{Host: "x\nHost: y", IP: v4, Port: 9000}, false, "192.0.2.7:9000"},
	} {
		req := httpRequest(tc.ep, tc.tls)
		head, _, _ := strings.Cut(req, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		if !slices.Contains(lines, "Host: "+tc.want) || len(lines) != 5 {
			t.Errorf("httpRequest(%+v, tls=%v) = %q, want Host %q in a 5-line head", tc.ep, tc.tls, req, tc.want)
		}
	}
}

// An IPv6 endpoint is dialled and named with brackets.
func TestLookIPv6(t *testing.T) {
	fastLook(t)
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	hosts := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		io.WriteString(w, "Ok.\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	l := Look(context.Background(), Endpoint{Host: "::1", IP: net.IPv6loopback, Port: port}, 5*time.Second)
	if l.HTTP == nil || l.HTTP.Status != 200 {
		t.Fatalf("Look([::1]:%d) = %s, want HTTP 200", port, describe(l))
	}
	if h, want := <-hosts, fmt.Sprintf("[::1]:%d", port); h != want {
		t.Errorf("Look([::1]:%d) sent Host %q, want %q", port, h, want)
	}
}

// A plaintext server that reads lines (Redis) hangs up on our request and
// then waits forever for the line end of a ClientHello: the TLS try must
// cost a handshake's wait, not the whole of a long timeout.
func TestLookTLSTryLineReader(t *testing.T) {
	fastLook(t)
	old := TLSWait
	TLSWait = 200 * time.Millisecond
	t.Cleanup(func() { TLSWait = old })
	ep := peer(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		b := make([]byte, 1)
		if _, err := c.Read(b); err != nil || b[0] == 0x16 {
			hold(c) // no CRLF in a ClientHello: a line reader waits on
		}
	})
	const timeout = time.Minute
	l, took := timedLook(ep, timeout)
	if !l.Closed || l.TLS || l.Err != nil {
		t.Errorf("Look(line reader) = %s, want Closed", describe(l))
	}
	if took > timeout/2 {
		t.Errorf("Look(line reader, timeout %v) took %v: the TLS try waited out the timeout", timeout, took)
	}
}
