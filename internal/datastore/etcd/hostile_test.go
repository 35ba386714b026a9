package etcd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

const hostileTimeout = 2 * time.Second

// fakeEtcd answers /version and maintenance/status as etcd 3.4 does, and
// kv/range with rangeFn.
func fakeEtcd(t *testing.T, rangeFn func(w http.ResponseWriter, req map[string]any)) datastore.Endpoint {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/version":
			io.WriteString(w, `{"etcdserver":"3.4.99","etcdcluster":"3.4.0"}`)
		case "/v3/maintenance/status":
			io.WriteString(w, `{"header":{"cluster_id":"1","member_id":"2","revision":"5"},"version":"3.4.99","dbSize":"20480"}`)
		case "/v3/kv/range":
			var req map[string]any
			json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req)
			rangeFn(w, req)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return datastore.Endpoint{Host: "127.0.0.1", IP: net.IPv4(127, 0, 0, 1), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
}

// honest answers a keyspace of two keys under /app/.
func honest(w http.ResponseWriter, req map[string]any) {
	b := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	switch {
	case req["count_only"] == true:
		io.WriteString(w, `{"header":{"revision":"5"},"count":"2"}`)
	case req["keys_only"] == true && req["key"] == "AA==":
		fmt.Fprintf(w, `{"header":{"revision":"5"},"kvs":[{"key":%q}],"count":"2"}`, b("/app/a"))
	case req["keys_only"] == true:
		io.WriteString(w, `{"header":{"revision":"5"},"count":"0"}`)
	default:
		fmt.Fprintf(w, `{"header":{"revision":"5"},"kvs":[{"key":%q,"value":%q},{"key":%q,"value":%q}],"count":"2"}`, b("/app/a"), b("one"), b("/app/b"), b("two"))
	}
}

func openFake(t *testing.T, ep datastore.Endpoint) *Session {
	t.Helper()
	ctx := context.Background()
	svc, err := Driver{}.Probe(ctx, ep, datastore.FirstLook{}, hostileTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(fake) = %+v, %v; want an open etcd", svc, err)
	}
	s, err := Driver{}.Open(ctx, svc, hostileTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*Session)
}

var lim = datastore.Limits{Rows: 20, Random: 100, Bytes: 1 << 20, Timeout: hostileTimeout}

func TestFakeEtcd(t *testing.T) {
	s := openFake(t, fakeEtcd(t, honest))
	ctx := context.Background()
	inv, err := s.Inventory(ctx)
	if err != nil || len(inv.Databases[0].Tables) != 1 {
		t.Fatalf("Inventory = %+v, %v", inv, err)
	}
	tb := inv.Databases[0].Tables[0]
	if tb.Name != "/app/" || tb.Rows != 2 {
		t.Errorf("table %+v; want /app/ of 2 keys", tb)
	}
	rows, err := s.Sample(ctx, tb, lim)
	if err != nil || len(rows.Columns) != 2 || rows.Columns[1] != "/app/b" || rows.Values[1][1] != "two" || rows.Values[0][1] != "" {
		t.Errorf("Sample = %+v, %v; want /app/a and /app/b in columns of their own", rows, err)
	}
}

func TestHostileEtcd(t *testing.T) {
	ctx := context.Background()
	t.Run("keys out of order", func(t *testing.T) {
		ep := fakeEtcd(t, func(w http.ResponseWriter, req map[string]any) {
			if req["count_only"] == true {
				io.WriteString(w, `{"count":"2"}`)
				return
			}
			// The same key, whatever the cursor.
			io.WriteString(w, `{"kvs":[{"key":"L2FwcC9h"}]}`)
		})
		s := openFake(t, ep)
		inv, err := s.Inventory(ctx)
		if err != nil || !inv.Truncated || len(inv.Databases) != 1 || len(inv.Databases[0].Tables) != 1 {
			t.Errorf("Inventory of a server answering one key for every cursor = %d tables, truncated %v %q, %v; want one, and the listing stopped", len(inv.Databases[0].Tables), inv.Truncated, inv.Truncation, err)
		}
	})
	t.Run("endless range body", func(t *testing.T) {
		ep := fakeEtcd(t, func(w http.ResponseWriter, req map[string]any) {
			if req["count_only"] == true || req["keys_only"] == true {
				honest(w, req)
				return
			}
			io.WriteString(w, `{"kvs":[{"key":"L2FwcC9h","value":"`)
			chunk := []byte(strings.Repeat("QUFB", 16<<10))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		s := openFake(t, ep)
		rows, err := s.Sample(ctx, datastore.Table{Database: Database, Name: "/app/", Kind: "prefix", Rows: 2}, lim)
		// The range answer is cut at the budget; each value is then read
		// alone, cut again, and skipped.
		if err != nil || len(rows.Values) != 0 || len(rows.Truncation) == 0 || rows.ReadBytes > lim.Bytes+valueCap*2+8192 {
			t.Errorf("Sample of an endless body = %d rows, %d bytes read, truncation %q, %v; want none, within the budget, said so", len(rows.Values), rows.ReadBytes, rows.Truncation, err)
		}
	})
	t.Run("endless version", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"etcdserver":"3.4.`)
			for {
				if _, err := w.Write(make([]byte, 64<<10)); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		ep := datastore.Endpoint{Host: "127.0.0.1", IP: net.IPv4(127, 0, 0, 1), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
		if svc, err := (Driver{}).Probe(ctx, ep, datastore.FirstLook{}, hostileTimeout); svc != nil {
			t.Errorf("Probe(an endless /version) = %+v, %v; want nil", svc, err)
		}
	})
	t.Run("slow range", func(t *testing.T) {
		ep := fakeEtcd(t, func(w http.ResponseWriter, req map[string]any) {
			if req["limit"] == float64(1) && req["keys_only"] == true && req["range_end"] == "AA==" && req["key"] == "AA==" {
				honest(w, req) // the probe's read
				return
			}
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			time.Sleep(3 * hostileTimeout)
		})
		s := openFake(t, ep)
		start := time.Now()
		_, err := s.Inventory(ctx)
		if took := time.Since(start); err == nil || took > 3*hostileTimeout {
			t.Errorf("Inventory of a server that stalls = %v after %s; want an error within %s", err, took, 3*hostileTimeout)
		}
	})
	t.Run("garbage json", func(t *testing.T) {
		ep := fakeEtcd(t, func(w http.ResponseWriter, req map[string]any) {
			if req["limit"] == float64(1) && req["key"] == "AA==" && req["range_end"] == "AA==" {
				honest(w, req)
				return
			}
			io.WriteString(w, `{"count": {"nested": [1,2,`)
		})
		s := openFake(t, ep)
		if _, err := s.Inventory(ctx); err == nil {
			t.Errorf("Inventory of garbage JSON = nil error")
		}
	})
	t.Run("huge key name", func(t *testing.T) {
		ep := fakeEtcd(t, func(w http.ResponseWriter, req map[string]any) {
			if req["count_only"] == true {
				io.WriteString(w, `{"count":"1"}`)
				return
			}
			fmt.Fprintf(w, `{"kvs":[{"key":%q}]}`, base64.StdEncoding.EncodeToString([]byte("/"+strings.Repeat("k", 200<<10))))
		})
		s := openFake(t, ep)
		inv, err := s.Inventory(ctx)
		if err != nil || !inv.Truncated {
			t.Errorf("Inventory with a 200 KiB key name = truncated %v, %v; want the listing cut, said so", inv.Truncated, err)
		}
	})
}

// TestAuthRequired: etcd's answer to a read without a user name, with
// auth on, is "required".
func TestAuthRequired(t *testing.T) {
	ep := fakeEtcd(t, func(w http.ResponseWriter, req map[string]any) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"etcdserver: user name is empty","message":"etcdserver: user name is empty","code":3}`)
	})
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, hostileTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthRequired || svc.AuthCode != 3 || !strings.Contains(svc.AuthMessage, "user name is empty") {
		t.Errorf("Probe(auth on) = %+v, %v; want required, code 3, user name is empty", svc, err)
	}
}

func TestKeyPrefixes(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"/registry/secrets/prod/db", "/registry/secrets/prod/"},
		{"/registry/namespaces/prod", "/registry/namespaces/"},
		{"/foo", "/"},
		{"cache:prompt:42", "cache:prompt:"},
		{"session:9f2", "session:"},
		{"plain", ""},
	} {
		if got := datastore.KeyPrefix(c.key); got != c.want {
			t.Errorf("KeyPrefix(%q) = %q, want %q", c.key, got, c.want)
		}
	}
	for _, c := range []struct{ p, want string }{{"/a/", "/a0"}, {"a\xff", "b"}, {"\xff\xff", "\x00"}} {
		if got := string(prefixEnd([]byte(c.p))); got != c.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", c.p, got, c.want)
		}
	}
}

func FuzzAnswers(f *testing.F) {
	for _, s := range []string{
		`{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`,
		`{"header":{"revision":"2"},"kvs":[{"key":"Zm9v","value":"YmFy"}],"count":"1"}`,
		`{"error":"etcdserver: user name is empty","code":3}`, `{"kvs":[{"key":"!!"}]}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, ok := parseVersion(b); ok && (!versionLike(v.Server) || !versionLike(v.Cluster)) {
			t.Errorf("parseVersion(%q) = %+v", b, v)
		}
		if r, err := parseRange(b); err == nil {
			for _, kv := range r.KVs {
				if len(kv.Key)+len(kv.Value) > len(b) {
					t.Errorf("parseRange(%q): a key and value longer than the answer", b)
				}
			}
		}
		errorOf(answer{status: 400, body: b})
	})
}
