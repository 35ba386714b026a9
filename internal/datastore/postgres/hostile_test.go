package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// peer is a fake server on loopback: serve runs once per connection.
type peer struct {
	ln       net.Listener
	accepted atomic.Int64
	written  atomic.Int64
}

func newPeer(t *testing.T, serve func(p *peer, c net.Conn)) (*peer, datastore.Endpoint) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			go func() {
				defer c.Close()
				serve(p, c)
			}()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return p, datastore.Endpoint{Host: "127.0.0.1", IP: a.IP, Port: a.Port}
}

// readFrontend reads one untyped (startup) message or, if typed, one typed message.
func readStartup(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < 8 || n > 10000 {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, n-4)
	_, err := io.ReadFull(c, b)
	return b, err
}

func readTyped(c net.Conn) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	b := make([]byte, n-4)
	_, err := io.ReadFull(c, b)
	return h[0], b, err
}

// greet answers an SSLRequest with N (if one comes) and the StartupMessage
// with what.
func greet(c net.Conn, what []byte) bool {
	b, err := readStartup(c)
	if err != nil {
		return false
	}
	if len(b) == 4 && bytes.Equal(b, sslRequest[4:]) {
		c.Write([]byte{'N'})
		if _, err := readStartup(c); err != nil {
			return false
		}
	}
	c.Write(what)
	return true
}

func hold(c net.Conn) { io.Copy(io.Discard, c) }

const hostileTimeout = 500 * time.Millisecond

// within fails if d is past what a bounded call may cost: its timeout,
// with a generous margin for a loaded machine.
func within(t *testing.T, what string, d, timeout time.Duration) {
	t.Helper()
	if d > 3*timeout+2*time.Second {
		t.Errorf("%s took %s, want about its timeout of %s", what, d, timeout)
	}
}

func TestProbeHostile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(p *peer, c net.Conn)
		found bool
		auth  datastore.Auth
	}{
		{"silent", func(p *peer, c net.Conn) { hold(c) }, false, ""},
		{"garbage after startup", func(p *peer, c net.Conn) {
			if greet(c, []byte("garbage garbage garbage\r\n")) {
				hold(c)
			}
		}, false, ""},
		{"HTTP to SSLRequest", func(p *peer, c net.Conn) {
			readStartup(c)
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, false, ""},
		{"huge message", func(p *peer, c net.Conn) {
			if greet(c, []byte{'R', 0x7f, 0xff, 0xff, 0xff}) {
				hold(c)
			}
		}, false, ""},
		{"tarpit after AuthenticationOk", func(p *peer, c net.Conn) {
			if greet(c, authMsg(0)) {
				hold(c)
			}
		}, true, datastore.AuthUnknown},
		{"endless ParameterStatus", func(p *peer, c net.Conn) {
			if greet(c, authMsg(0)) {
				for {
					if _, err := c.Write(paramMsg("x", strings.Repeat("y", 1000))); err != nil {
						return
					}
				}
			}
		}, true, datastore.AuthUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ep := newPeer(t, tc.serve)
			start := time.Now()
			svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, hostileTimeout)
			within(t, "Probe", time.Since(start), hostileTimeout)
			if err != nil || (svc != nil) != tc.found {
				t.Fatalf("Probe = %+v, %v; want found %v", svc, err, tc.found)
			}
			if svc != nil && svc.Auth != tc.auth {
				t.Errorf("Probe.Auth = %s (%s), want %s", svc.Auth, svc.AuthMessage, tc.auth)
			}
		})
	}
}

func TestProbeSendsNoPassword(t *testing.T) {
	after := make(chan int, 8)
	_, ep := newPeer(t, func(p *peer, c net.Conn) {
		if greet(c, authMsg(10, []byte("SCRAM-SHA-256\x00\x00")...)) {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _ := io.Copy(io.Discard, c)
			after <- int(n)
		}
	})
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 2*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthRequired || svc.AuthCode != 10 {
		t.Fatalf("Probe = %+v, %v; want auth required (10)", svc, err)
	}
	if !strings.Contains(svc.AuthMessage, "SCRAM-SHA-256") || !strings.Contains(svc.AuthMessage, "no password was sent") {
		t.Errorf("AuthMessage = %q", svc.AuthMessage)
	}
	for range len(probeUsers) {
		if n := <-after; n != 0 {
			t.Errorf("the client sent %d bytes after the password request, want none", n)
		}
	}
}

func TestProbeRuledOutByLook(t *testing.T) {
	p, ep := newPeer(t, func(p *peer, c net.Conn) { hold(c) })
	for _, look := range []datastore.FirstLook{
		{Banner: []byte("J\x00\x00\x00\x0a5.5.5-10.11")},
		{HTTP: &datastore.HTTPLook{Status: 200}},
		{Reply: []byte("HTTP/1.0 400 Bad Request\r\n")},
	} {
		if svc, err := (Driver{}).Probe(context.Background(), ep, look, time.Second); svc != nil || err != nil {
			t.Errorf("Probe(%+v) = %+v, %v; want nil, nil", look, svc, err)
		}
	}
	if n := p.accepted.Load(); n != 0 {
		t.Errorf("the probe connected %d times to a port the look ruled out", n)
	}
}

// sessionPeer completes a trust login, then answers each query with answer.
func sessionPeer(t *testing.T, answer func(p *peer, c net.Conn)) (*peer, *datastore.Service) {
	p, ep := newPeer(t, func(p *peer, c net.Conn) {
		if !greet(c, bytes.Join([][]byte{authMsg(0), paramMsg("server_version", "15.20"), msg('K', make([]byte, 8)), readyMsg}, nil)) {
			return
		}
		for {
			typ, _, err := readTyped(c)
			if err != nil || typ == 'X' {
				return
			}
			answer(p, c)
		}
	})
	return p, &datastore.Service{Endpoint: ep, Engine: "postgresql", Auth: datastore.AuthNone, User: "postgres"}
}

func TestSessionHostile(t *testing.T) {
	row := func(v []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return msg('D', append(b, v...))
	}
	rowDesc := func(n int) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(n))
		for i := range n {
			b = append(b, 'c', byte('a'+i%26), 0)
			b = binary.BigEndian.AppendUint32(b, 0)
			b = binary.BigEndian.AppendUint16(b, 0)
			b = binary.BigEndian.AppendUint32(b, 25)
			b = binary.BigEndian.AppendUint16(b, 0xffff)
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			b = binary.BigEndian.AppendUint16(b, 0)
		}
		return msg('T', b)
	}
	big := bytes.Repeat([]byte("A"), 1<<20)
	for _, tc := range []struct {
		name   string
		answer func(p *peer, c net.Conn)
		want   string // in the error or the truncation
	}{
		{"endless DataRow stream", func(p *peer, c net.Conn) {
			c.Write(rowDesc(1))
			for {
				n, err := c.Write(row(big))
				p.written.Add(int64(n))
				if err != nil {
					return
				}
			}
		}, "the answer went past the 20000-row or 16777216-byte cap"},
		{"huge RowDescription", func(p *peer, c net.Conn) {
			c.Write([]byte{'T', 0x7f, 0xff, 0xff, 0xf0})
			hold(c)
		}, "passed the 4194304-byte message cap"},
		{"wide RowDescription", func(p *peer, c net.Conn) {
			c.Write(rowDesc(60000))
			hold(c)
		}, "no answer within"},
		{"tarpit", func(p *peer, c net.Conn) { hold(c) }, "no answer within"},
		{"garbage", func(p *peer, c net.Conn) { c.Write([]byte("\x00\x01garbage")); hold(c) }, "broke the protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, svc := sessionPeer(t, tc.answer)
			sess, err := Driver{}.Open(context.Background(), svc, hostileTimeout)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer sess.Close()
			start := time.Now()
			inv, err := sess.Inventory(context.Background())
			within(t, "Inventory", time.Since(start), hostileTimeout)
			t.Logf("Inventory: %v; truncation %q; peer sent %d bytes", err, inv.Truncation, p.written.Load())
			if got := fmt.Sprint(err, inv.Truncation); !strings.Contains(got, tc.want) {
				t.Errorf("Inventory = %v, truncation %q; want %q said", err, inv.Truncation, tc.want)
			}
			if w := p.written.Load(); w > queryByteCap+8<<20 {
				t.Errorf("the peer got %d bytes through, want at most the %d-byte cap and socket buffers", w, queryByteCap)
			}
			if held := sess.(*session).held; held > datastore.SessionMemory {
				t.Errorf("the session holds %d bytes, over SessionMemory", held)
			}
		})
	}
}

// TestProbeVerdicts runs the probe against peers answering as real
// servers do (the research note's table), each user by its name.
func TestProbeVerdicts(t *testing.T) {
	ok := bytes.Join([][]byte{authMsg(0), paramMsg("server_version", "15.20"), paramMsg("TimeZone", "UTC"), readyMsg}, nil)
	for _, tc := range []struct {
		name   string
		answer func(user, db string) []byte
		auth   datastore.Auth
		user   string
		msg    string
	}{
		{"trust", func(user, db string) []byte { return ok }, datastore.AuthNone, "postgres", ""},
		{"only root exists", func(user, db string) []byte {
			if user != "root" {
				return append(authMsg(0), errMsg("FATAL", "28000", `role "`+user+`" does not exist`)...)
			}
			return ok
		}, datastore.AuthNone, "root", ""},
		{"no database postgres", func(user, db string) []byte {
			if db == "postgres" {
				return append(authMsg(0), errMsg("FATAL", "3D000", `database "postgres" does not exist`)...)
			}
			return ok
		}, datastore.AuthNone, "postgres", ""},
		{"no known role", func(user, db string) []byte {
			return append(authMsg(0), errMsg("FATAL", "28000", `role "`+user+`" does not exist`)...)
		}, datastore.AuthUnknown, "", `role "postgres" does not exist (SQLSTATE 28000)`},
		{"md5 for postgres, restricted for others", func(user, db string) []byte {
			if user == "postgres" {
				return authMsg(5, 1, 2, 3, 4)
			}
			return errMsg("FATAL", "28000", `no pg_hba.conf entry for host "127.0.0.1", user "`+user+`", database "postgres", no encryption`)
		}, datastore.AuthRequired, "postgres", `PostgreSQL asks user "postgres" for an MD5 password`},
		{"restricted", func(user, db string) []byte {
			return errMsg("FATAL", "28000", `pg_hba.conf rejects connection for host "127.0.0.1", user "`+user+`", database "postgres", no encryption`)
		}, datastore.AuthIPRestricted, "postgres", `pg_hba.conf rejects connection`},
		{"too many connections", func(user, db string) []byte {
			return errMsg("FATAL", "53300", "sorry, too many clients already")
		}, datastore.AuthUnknown, "", "sorry, too many clients already (SQLSTATE 53300)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ep := newPeer(t, func(p *peer, c net.Conn) {
				b, err := readStartup(c)
				if err != nil {
					return
				}
				if bytes.Equal(b, sslRequest[4:]) {
					c.Write([]byte{'N'})
					if b, err = readStartup(c); err != nil {
						return
					}
				}
				params := strings.Split(string(b[4:]), "\x00")
				kv := map[string]string{}
				for i := 0; i+1 < len(params); i += 2 {
					kv[params[i]] = params[i+1]
				}
				c.Write(tc.answer(kv["user"], kv["database"]))
				c.SetReadDeadline(time.Now().Add(time.Second))
				hold(c)
			})
			svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 2*time.Second)
			if err != nil || svc == nil {
				t.Fatalf("Probe = %v, %v", svc, err)
			}
			if svc.Auth != tc.auth || (tc.user != "" && svc.User != tc.user) || !strings.HasPrefix(svc.AuthMessage, tc.msg) {
				t.Errorf("Probe = auth %s user %q message %q; want %s %q %q", svc.Auth, svc.User, svc.AuthMessage, tc.auth, tc.user, tc.msg)
			}
		})
	}
}
