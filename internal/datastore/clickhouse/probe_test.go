package clickhouse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// A Hello's version numbers are the peer's to choose: one no ClickHouse
// release has is reported as unknown, with a note, never printed as the
// server's version.
func TestProbeNativeImplausibleVersion(t *testing.T) {
	hello := func(major, minor, rev, patch uint64) []byte {
		var w wireWriter
		w.uvarint(serverHello)
		w.str("ClickHouse")
		w.uvarint(major)
		w.uvarint(minor)
		w.uvarint(rev)
		w.str("UTC")
		w.str("fake-1")
		w.uvarint(patch)
		return w.b
	}
	for _, tc := range []struct {
		name  string
		hello []byte
		want  string // "" for unknown
	}{
		{"23.8.5", hello(23, 8, clientRevision, 5), "23.8.5"},
		{"major 2^64-1", hello(math.MaxUint64, 8, clientRevision, 5), ""},
		{"minor 2^64-1", hello(23, math.MaxUint64, clientRevision, 5), ""},
		{"patch 2^64-1", hello(23, 8, clientRevision, math.MaxUint64), ""},
		{"major 10000", hello(10000, 1, clientRevision, 1), ""},
		{"patch 10^7", hello(23, 8, clientRevision, 10_000_000), ""},
		{"no patch, revision 2^64-1", hello(23, 8, math.MaxUint64, 0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, replyOnce(tc.hello))
			svc, err := probe(t, s.endpoint(), 2*time.Second)
			if err != nil || svc == nil {
				t.Fatalf("Probe(%s) = %+v, %v, want a native service", s.endpoint(), svc, err)
			}
			if svc.Version != tc.want {
				t.Errorf("Probe(%s) = version %q, want %q", s.endpoint(), svc.Version, tc.want)
			}
			noted := len(svc.Notes) == 1 && strings.HasPrefix(svc.Notes[0], "version unknown")
			if noted != (tc.want == "") {
				t.Errorf("Probe(%s) = notes %q, want a note that the version is unknown: %v", s.endpoint(), svc.Notes, tc.want == "")
			}
		})
	}
}

// hostileCert makes a self-signed certificate whose names a peer chose:
// escape sequences and a subject of 20 KB, and a hundred SANs.
func hostileCert(t *testing.T) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject: pkix.Name{
			CommonName:         "\x1b]0;owned\a\x1b[2J" + strings.Repeat("A", 10<<10),
			OrganizationalUnit: []string{strings.Repeat("\u202e", 3000)},
		},
		NotBefore:   time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
		NotAfter:    time.Date(2035, 1, 2, 0, 0, 0, 0, time.UTC),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for i := range 100 {
		tmpl.DNSNames = append(tmpl.DNSNames, fmt.Sprintf("host%d.example.com", i))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, parsed
}

// overTLS serves h to clients that complete a TLS handshake with cert.
func overTLS(cert tls.Certificate, h func(net.Conn)) func(net.Conn) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangGuard))
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		h(tc)
	}
}

// fakeHTTPClickHouse answers the probe's question as ClickHouse 24.8 does.
// With readonly, it refuses any setting in the URL, as a server whose
// profile is readonly=1 does. It records the parameters of every request.
type fakeHTTPClickHouse struct {
	readonly bool
	mu       sync.Mutex
	seen     []url.Values
}

var sumRe = regexp.MustCompile(`(\d+) \+ (\d+)`)

func (f *fakeHTTPClickHouse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.seen = append(f.seen, q)
	f.mu.Unlock()
	if f.readonly && len(q) > 1 {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "Code: 164, e.displayText() = DB::Exception: Cannot override setting (max_execution_time) in readonly mode, e.what() = DB::Exception\n")
		return
	}
	m := sumRe.FindStringSubmatch(q.Get("query"))
	if m == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	fmt.Fprintf(w, "24.8.1.1\tUTC\t%d\n", a+b)
}

func (f *fakeHTTPClickHouse) requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.seen...)
}

func httpEndpoint(srv *httptest.Server) datastore.Endpoint {
	return datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
}

// The probe's question carries server-side limits as every query does; a
// server whose profile refuses them is asked again without.
func TestProbeHTTPCarriesLimits(t *testing.T) {
	for _, readonly := range []bool{false, true} {
		t.Run(fmt.Sprintf("readonly profile %v", readonly), func(t *testing.T) {
			fake := &fakeHTTPClickHouse{readonly: readonly}
			ep := httpEndpoint(startHTTP(t, fake))
			svc, err := probe(t, ep, 2*time.Second)
			if err != nil || svc == nil || svc.Version != "24.8.1.1" || svc.Auth != datastore.AuthNone {
				t.Fatalf("Probe(%s) = %+v, %v, want ClickHouse 24.8.1.1 without a password", ep, svc, err)
			}
			reqs := fake.requests()
			if len(reqs) == 0 {
				t.Fatalf("Probe(%s) sent no request", ep)
			}
			for _, name := range []string{"max_execution_time", "max_result_rows", "max_result_bytes"} {
				if v, err := strconv.Atoi(reqs[0].Get(name)); err != nil || v <= 0 {
					t.Errorf("Probe(%s) asked %q with %s=%q, want a positive limit", ep, reqs[0].Get("query"), name, reqs[0].Get(name))
				}
			}
			if want := 1 + btoi(readonly); len(reqs) != want {
				t.Errorf("Probe(%s) sent %d requests, want %d", ep, len(reqs), want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The certificate a TLS server shows is recorded on the service, however
// hostile its names: capped, and its fingerprint that of the DER bytes.
func TestProbeRecordsCertificate(t *testing.T) {
	cert, parsed := hostileCert(t)
	sum := sha256.Sum256(parsed.Raw)
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) datastore.Endpoint
		proto string
	}{
		{"native", func(t *testing.T) datastore.Endpoint {
			return startFake(t, overTLS(cert, nativeServer(helloPacket(), nil))).endpoint()
		}, "native"},
		{"native, password required", func(t *testing.T) datastore.Endpoint {
			return startFake(t, overTLS(cert, replyOnce(exceptionPacket(194, "DB::Exception", "Password required for user default")))).endpoint()
		}, "native"},
		{"http", func(t *testing.T) datastore.Endpoint {
			srv := httptest.NewUnstartedServer(&fakeHTTPClickHouse{})
			srv.Listener.Close()
			srv.Listener = loopbackListener(t)
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the plaintext attempts fail the handshake, as they should
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return httpEndpoint(srv)
		}, "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := tc.start(t)
			svc, err := probe(t, ep, 2*time.Second)
			if err != nil || svc == nil || svc.Protocol != tc.proto || !svc.TLS {
				t.Fatalf("Probe(%s) = %+v, %v, want %s over TLS", ep, svc, err, tc.proto)
			}
			c := svc.Cert
			if c == nil {
				t.Fatalf("Probe(%s) = no certificate recorded", ep)
			}
			if !c.SelfSigned || c.SHA256 != hex.EncodeToString(sum[:]) || !c.NotAfter.Equal(parsed.NotAfter) || !c.NotBefore.Equal(parsed.NotBefore) {
				t.Errorf("Probe(%s) = certificate self-signed %v, sha256 %s, valid %s to %s; want self-signed, %x, %s to %s",
					ep, c.SelfSigned, c.SHA256, c.NotBefore, c.NotAfter, sum, parsed.NotBefore, parsed.NotAfter)
			}
			if len(c.Subject) > 400 || len(c.Issuer) > 400 || !strings.Contains(c.Subject, "AAAA") {
				t.Errorf("Probe(%s) = subject of %d bytes, issuer of %d, want each cut to a few hundred", ep, len(c.Subject), len(c.Issuer))
			}
			if len(c.SANs) != 16 || !c.SANsTruncated || c.SANs[0] != "host0.example.com" {
				t.Errorf("Probe(%s) = %d SANs (truncated %v), first %q; want the first 16 of 100", ep, len(c.SANs), c.SANsTruncated, c.SANs)
			}
		})
	}
}
