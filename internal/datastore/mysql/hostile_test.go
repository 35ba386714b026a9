package mysql

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Each hostile peer must cost at most its timeout (with a generous margin
// for a loaded machine) and a bounded amount of memory.
const margin = 5 * time.Second

func within(t *testing.T, what string, budget time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > budget+margin {
		t.Errorf("%s took %s, want at most its timeout %s", what, took, budget)
	}
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestHostileProbe(t *testing.T) {
	const timeout = time.Second
	for name, script := range map[string]func(*fakeServer, *fakeConn){
		"tarpit": func(_ *fakeServer, c *fakeConn) { io.Copy(io.Discard, c.c) },
		"garbage greeting": func(_ *fakeServer, c *fakeConn) {
			c.c.Write([]byte("\x16\x03\x01\x02\x00garbage that is no greeting"))
			io.Copy(io.Discard, c.c)
		},
		"16 MB packet claimed": func(_ *fakeServer, c *fakeConn) { c.c.Write([]byte{0xff, 0xff, 0xff, 0, 10}); io.Copy(io.Discard, c.c) },
		"HTTP server":          func(_ *fakeServer, c *fakeConn) { c.c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) },
		"tarpit after greeting": func(_ *fakeServer, c *fakeConn) {
			c.write(0, mariaGreeting)
			io.Copy(io.Discard, c.c)
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := startFake(t, script)
			var svc *datastore.Service
			var err error
			n := allocated(func() {
				within(t, "Probe", timeout, func() {
					svc, err = Driver{}.Probe(context.Background(), f.endpoint(), datastore.FirstLook{}, timeout)
				})
			})
			if n > 8<<20 {
				t.Errorf("Probe allocated %d bytes", n)
			}
			if name == "tarpit after greeting" {
				if svc == nil || svc.Auth != datastore.AuthUnknown {
					t.Errorf("Probe = %+v, %v, want MariaDB with auth unknown", svc, err)
				}
				return
			}
			if svc != nil || err != nil {
				t.Errorf("Probe = %+v, %v, want nil, nil", svc, err)
			}
		})
	}
}

// hostileSession logs in, then answers every query after the session's
// own SET statements with answer.
func hostileSession(t *testing.T, answer func(c *fakeConn)) *fakeServer {
	return startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mariaGreeting)
		if !f.acceptLogin(c) {
			return
		}
		serveQueries(c, func(sql string, c *fakeConn) bool {
			if strings.HasPrefix(sql, "SET ") || strings.HasPrefix(sql, "START TRANSACTION") || sql == "ROLLBACK" {
				return false
			}
			answer(c)
			return true
		})
	})
}

func TestHostileSession(t *testing.T) {
	const timeout = 2 * time.Second
	endless := func(c *fakeConn) {
		c.write(1, []byte{1})
		c.write(2, columnDef("x"))
		c.write(3, eofPacket)
		row := lenencStr(strings.Repeat("a", 200))
		for seq := byte(4); ; seq++ {
			if c.write(seq, row) != nil {
				return
			}
		}
	}
	for _, tc := range []struct {
		name   string
		answer func(c *fakeConn)
		want   string // in the error or the inventory's truncation
	}{
		{"endless result set", endless, "cut at"},
		{"huge column count", func(c *fakeConn) {
			c.write(1, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0})
			io.Copy(io.Discard, c.c)
		}, "columns"},
		{"16 MB row claimed", func(c *fakeConn) {
			c.write(1, []byte{1})
			c.write(2, columnDef("x"))
			c.write(3, eofPacket)
			c.c.Write([]byte{0xff, 0xff, 0xff, 4})
			io.Copy(io.Discard, c.c)
		}, "announced a packet"},
		{"tarpit after OK", func(c *fakeConn) { io.Copy(io.Discard, c.c) }, "timeout"},
		{"local infile request", func(c *fakeConn) {
			c.write(1, append([]byte{0xfb}, "/etc/passwd"...))
			if p, _ := c.read(); len(p) != 0 {
				t.Errorf("the client answered a LOCAL INFILE request with %d bytes", len(p))
			}
		}, "local file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := hostileSession(t, tc.answer)
			s := openFake(t, f)
			s.timeout = timeout
			var inv datastore.Inventory
			var err error
			n := allocated(func() {
				within(t, "Inventory", 2*(timeout+time.Second), func() { inv, err = s.Inventory(context.Background()) })
			})
			if n > 3*datastore.SessionMemory {
				t.Errorf("Inventory allocated %d MB", n>>20)
			}
			got := strings.Join(inv.Truncation, "\n")
			if err != nil {
				got += err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("Inventory = %v, truncation %q; want %q named", err, inv.Truncation, tc.want)
			}
			if s.mem.held > datastore.SessionMemory {
				t.Errorf("the session holds %d bytes", s.mem.held)
			}
		})
	}
}

// TestHostileSessionCancel: cancelling the context ends a query at once.
func TestHostileSessionCancel(t *testing.T) {
	s := openFake(t, hostileSession(t, func(c *fakeConn) { io.Copy(io.Discard, c.c) }))
	s.timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	within(t, "a cancelled query", 300*time.Millisecond, func() {
		_, err := s.q(ctx, "SELECT 1", 1, 4096)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("q = %v, want the context's deadline", err)
		}
	})
}
