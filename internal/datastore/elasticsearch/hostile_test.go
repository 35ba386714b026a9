package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

const rootJSON = `{"name":"n1","cluster_name":"c1","cluster_uuid":"u1","version":{"number":"7.17.25","build_flavor":"default"},"tagline":"You Know, for Search"}`

// fake serves root on / and hands every other path to other.
func fake(t *testing.T, other http.HandlerFunc) (datastore.Endpoint, *atomic.Int64) {
	t.Helper()
	var nonGet atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			nonGet.Add(1)
		}
		if r.URL.Path == "/" {
			io.WriteString(w, rootJSON)
			return
		}
		other(w, r)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().(*net.TCPAddr)
	return datastore.Endpoint{Host: "127.0.0.1", IP: addr.IP, Port: addr.Port}, &nonGet
}

func openFake(t *testing.T, ep datastore.Endpoint, timeout time.Duration) *Session {
	t.Helper()
	svc := &datastore.Service{Endpoint: ep, Engine: "elasticsearch", Protocol: "http", Auth: datastore.AuthNone, User: "anonymous"}
	s, err := Driver{}.Open(context.Background(), svc, timeout)
	if err != nil {
		t.Fatalf("Open(%s) = %v", ep, err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*Session)
}

// endless writes JSON-looking bytes until the client hangs up (at most
// a few GB, so that a test that fails still ends).
func endless(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, prefix)
		chunk := []byte(strings.Repeat(`{"index":"x","docs.count":"1"},`, 1024))
		for i := 0; i < 100000; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestHostileEndlessCatIndices(t *testing.T) {
	ep, _ := fake(t, endless("["))
	s := openFake(t, ep, 20*time.Second)
	before := heapAlloc()
	_, err := s.Inventory(context.Background())
	if !errors.Is(err, errTooLarge) {
		t.Errorf("Inventory(an endless _cat/indices) = %v, want an answer cut at its cap", err)
	}
	if grew := int64(heapAlloc()) - int64(before); grew > 2*catCap {
		t.Errorf("Inventory held %d MiB after an endless answer, want at most %d", grew>>20, 2*catCap>>20)
	}
}

func TestHostileEndlessRoot(t *testing.T) {
	srv := httptest.NewServer(endless(`{"version":{"number":"7.17.25"},"tagline":"You Know, for Search","x":[`))
	defer srv.Close()
	addr := srv.Listener.Addr().(*net.TCPAddr)
	ep := datastore.Endpoint{Host: "127.0.0.1", IP: addr.IP, Port: addr.Port}
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 10*time.Second)
	if svc != nil {
		t.Errorf("Probe(an endless GET /) = a %s service, %v; want nil: its root is never whole", svc.DisplayName, err)
	}
}

func TestHostileTarpitAfterRoot(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	ep, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})
	s := openFake(t, ep, time.Second)
	start := time.Now()
	_, err := s.Inventory(context.Background())
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Errorf("Inventory(a server that never answers) = %v after %s; want an error within a few seconds", err, took)
	}
}

func TestHostileRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1); io.WriteString(w, rootJSON) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/", http.StatusFound)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().(*net.TCPAddr)
	ep := datastore.Endpoint{Host: "127.0.0.1", IP: addr.IP, Port: addr.Port}
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 5*time.Second)
	if svc != nil || followed.Load() != 0 {
		t.Errorf("Probe(a redirect) = %v, %v, with %d requests to the redirect's target; want nil and none", svc, err, followed.Load())
	}
}

func TestHostileHugeHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				line := "X-Junk: " + strings.Repeat("a", 8000) + "\r\n"
				for i := 0; i < 100000; i++ {
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	ep := datastore.Endpoint{Host: "127.0.0.1", IP: addr.IP, Port: addr.Port}
	start := time.Now()
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 5*time.Second)
	if svc != nil || time.Since(start) > 20*time.Second {
		t.Errorf("Probe(800 MB of headers) = %v, %v after %s; want nil, quickly", svc, err, time.Since(start))
	}
}

// TestHostileSearchAnswers: garbage, a cut answer and an error where
// search answers belong cost a truncation note each, never a crash, and
// the driver sends nothing but GET.
func TestHostileSearchAnswers(t *testing.T) {
	for _, c := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("\x00\xff{[\"")) }},
		{"error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"type":"x","reason":"`+strings.Repeat("\x1b[2J", 1000)+`"},"status":500}`)
		}},
		{"endless", endless(`{"hits":{"hits":[`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep, nonGet := fake(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/_mapping") {
					fmt.Fprint(w, `{"idx":{"mappings":{"properties":{"msg":{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}}}}}`)
					return
				}
				c.h(w, r)
			})
			s := openFake(t, ep, 5*time.Second)
			tb := datastore.Table{Database: "c1", Name: "idx", Kind: "index", Rows: 1000000, Bytes: 1 << 30}
			rows, err := s.Sample(context.Background(), tb, datastore.Limits{Rows: 3, Random: 5, Bytes: 1 << 20, Timeout: 5 * time.Second, Keywords: []string{"AKIA", "sk-"}})
			if err != nil {
				t.Errorf("Sample = %v, want the failures noted, not returned", err)
			}
			if len(rows.Values) != 0 || len(rows.Truncation) == 0 {
				t.Errorf("Sample = %d rows, truncation %q; want none and a note", len(rows.Values), rows.Truncation)
			}
			if rows.ReadBytes > 1<<20+1<<20 {
				t.Errorf("Sample read %d bytes, want at most its budget and one answer", rows.ReadBytes)
			}
			if nonGet.Load() != 0 {
				t.Errorf("the driver sent %d requests other than GET", nonGet.Load())
			}
		})
	}
}

func TestClientSendsGetOnly(t *testing.T) {
	c := newClient(datastore.Endpoint{Host: "127.0.0.1", IP: net.IPv4(127, 0, 0, 1), Port: 9}, false, time.Second)
	defer c.close()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if _, err := c.do(context.Background(), m, "/", nil, 10, time.Second); err == nil {
			t.Errorf("client.do(%s) = nil, want a refusal", m)
		}
	}
}
