package clickhouse

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

// firstBytes is a peer that records the first bytes of every connection
// and answers nothing: what the probe tried shows in what it sent.
type firstBytes struct {
	*fakeServer
	mu    sync.Mutex
	heads [][]byte
}

func startFirstBytes(t *testing.T) *firstBytes {
	f := &firstBytes{}
	f.fakeServer = startFake(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		f.mu.Lock()
		f.heads = append(f.heads, buf[:n])
		f.mu.Unlock()
		c.Close() // said nothing useful: the probe moves on at once
	})
	return f
}

// tried names what each connection began with: HTTP, TLS, or native (a
// ClickHouse Hello begins with packet type 0).
func (f *firstBytes) tried() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, h := range f.heads {
		switch {
		case bytes.HasPrefix(h, []byte("GET ")):
			out = append(out, "http")
		case len(h) > 0 && h[0] == 0x16:
			out = append(out, "tls")
		case len(h) > 0 && h[0] == 0:
			out = append(out, "native")
		default:
			out = append(out, "?")
		}
	}
	return out
}

// The first look leaves only the protocols that can match: a port that
// spoke first is no ClickHouse; an HTTP answer is tried over HTTP only,
// unless it is the native port's refusal of HTTP; a non-HTTP reply or a
// silent close is tried over native only; a look inside TLS leaves TLS.
func TestProbeFollowsTheFirstLook(t *testing.T) {
	web := &datastore.HTTPLook{Status: 200, Header: http.Header{"Server": {"nginx"}}, Body: []byte("<html>hello</html>")}
	refusal := &datastore.HTTPLook{Status: 400, Body: []byte("Port 9000 is for clickhouse-client program.\r\nYou must use port 8123 for HTTP.\r\n")}
	for _, tc := range []struct {
		name string
		look datastore.FirstLook
		want []string // what each connection began with
	}{
		{"banner", datastore.FirstLook{Banner: []byte("SSH-2.0-OpenSSH_9.6\r\n")}, nil},
		{"http", datastore.FirstLook{HTTP: web}, []string{"http"}},
		{"native refusing http", datastore.FirstLook{HTTP: refusal}, []string{"native"}},
		{"reply", datastore.FirstLook{Reply: []byte{0x02, 0x01}}, []string{"native"}},
		{"closed", datastore.FirstLook{Closed: true}, []string{"native"}},
		{"http inside tls", datastore.FirstLook{TLS: true, HTTP: web}, []string{"tls"}},
		{"no look taken", datastore.FirstLook{}, []string{"http", "native", "tls", "tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFirstBytes(t)
			var svc *datastore.Service
			within(t, "Probe", func() {
				svc, _ = Driver{}.Probe(context.Background(), f.endpoint(), tc.look, 2*time.Second)
			})
			if svc != nil {
				t.Errorf("Probe(%s) = %+v, want no service", f.endpoint(), svc)
			}
			if got := f.tried(); !slices.Equal(got, tc.want) {
				t.Errorf("Probe(%s) with look %s tried %q, want %q", f.endpoint(), tc.name, got, tc.want)
			}
		})
	}
}

// Against the lab: each ClickHouse interface is still found from the look
// it gives, and the plain web server answering "Ok." on 8123 is let go
// after one HTTP question.
func TestProbeFollowsTheFirstLookLab(t *testing.T) {
	requireLab(t)
	ok := &datastore.HTTPLook{Status: 200, Body: []byte("Ok.\n")}
	refusal := &datastore.HTTPLook{Status: 400, Body: []byte("Port 9000 is for clickhouse-client program.\r\nYou must use port 8123 for HTTP.\r\n")}
	ep := func(host string, port int) datastore.Endpoint {
		return datastore.Endpoint{Host: host, IP: net.ParseIP(host), Port: port}
	}
	for _, tc := range []struct {
		name     string
		ep       datastore.Endpoint
		look     datastore.FirstLook
		protocol string // "" for no ClickHouse
	}{
		{"http", ep(lab.Open.Host, lab.Open.HTTPPort), datastore.FirstLook{HTTP: ok}, "http"},
		{"native", ep(lab.Open.Host, lab.Open.NativePort), datastore.FirstLook{HTTP: refusal}, "native"},
		{"https", ep(lab.TLS.Host, lab.TLS.HTTPPort), datastore.FirstLook{TLS: true, HTTP: ok}, "http"},
		{"native over tls", ep(lab.TLS.Host, lab.TLS.NativePort), datastore.FirstLook{TLS: true, Closed: true}, "native"},
		{"nginx saying Ok.", ep(lab.WebHost, lab.WebPort), datastore.FirstLook{HTTP: ok}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			svc, err := Driver{}.Probe(context.Background(), tc.ep, tc.look, 10*time.Second)
			took := time.Since(start)
			switch {
			case tc.protocol == "" && (svc != nil || err != nil):
				t.Errorf("Probe(%s) = %+v, %v; want nil, nil", tc.ep, svc, err)
			case tc.protocol != "" && (err != nil || svc == nil || svc.Protocol != tc.protocol || svc.TLS != tc.look.TLS):
				t.Errorf("Probe(%s) = %+v, %v; want ClickHouse over %s (tls %v)", tc.ep, svc, err, tc.protocol, tc.look.TLS)
			}
			// One question, not a timeout: a generous bound, far under the
			// 10 s a native attempt on a web server could wait.
			if tc.protocol == "" && took > 3*time.Second {
				t.Errorf("Probe(%s) took %s, want one HTTP question's time", tc.ep, took)
			}
		})
	}
}

// The HTTP and native interfaces of one lab server are one server; two
// servers are two; a table's kind is told.
func TestServerIDLab(t *testing.T) {
	requireLab(t)
	ctx := context.Background()
	ids := map[string]datastore.ServerID{}
	for name, s := range map[string]*session{
		"open http": labSession(t, lab.Open, false), "open native": labSession(t, lab.Open, true), "readonly http": labSession(t, lab.Readonly, false),
	} {
		id, err := s.ServerID(ctx)
		if err != nil || id.Engine != "clickhouse" || id.Started.IsZero() || time.Since(id.Started) < 0 {
			t.Fatalf("%s: ServerID = %+v, %v; want clickhouse with a start time in the past", name, id, err)
		}
		ids[name] = id
	}
	if !ids["open http"].Same(ids["open native"]) {
		t.Errorf("ServerID over HTTP %v and native %v of one server are not Same", ids["open http"], ids["open native"])
	}
	if ids["open http"].Same(ids["readonly http"]) {
		t.Errorf("ServerID of two servers %v and %v are Same", ids["open http"], ids["readonly http"])
	}
	if pd := labSession(t, lab.Open, false).Pushdown(); pd != (datastore.Pushdown{Substring: true, Regex: datastore.DialectRE2, Counts: true, Distinct: true}) {
		t.Errorf("Pushdown() = %+v, want substring, RE2, counts and distinct", pd)
	}
}

func TestTableKind(t *testing.T) {
	for engine, want := range map[string]string{"MergeTree": "table", "Log": "table", "View": "view", "MaterializedView": "view", "Kafka": "table"} {
		if got := tableKind(engine); got != want {
			t.Errorf("tableKind(%q) = %q, want %q", engine, got, want)
		}
	}
}

// clickhouse:// and clickhouses:// URLs mean the native ports.
func TestSchemes(t *testing.T) {
	want := map[string]int{"clickhouse": 9000, "clickhouses": 9440}
	for _, s := range (Driver{}).Schemes() {
		if want[s.Name] != s.Port || s.TLS != (s.Name == "clickhouses") {
			t.Errorf("scheme %+v, want port %d, TLS only for clickhouses", s, want[s.Name])
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		t.Errorf("schemes %v not owned", want)
	}
}
