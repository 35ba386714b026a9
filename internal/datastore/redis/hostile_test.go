package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
)

// margin is what a loaded machine may add to a timeout.
const margin = 5 * time.Second

// commands reads RESP commands off c and calls answer with each; answer
// returns false to stop.
func commands(c net.Conn, answer func(args []string) bool) {
	r := newRespReader(c)
	for {
		v, err := r.read(defaultCaps)
		if err != nil || v.kind != '*' {
			return
		}
		args := make([]string, len(v.arr))
		for i, a := range v.arr {
			args[i] = a.str
		}
		if !answer(args) {
			return
		}
	}
}

// redisLike answers PING and INFO as an open Redis 7 does, and every other
// command with other.
func redisLike(other func(c net.Conn, args []string) bool) func(net.Conn) {
	return func(c net.Conn) {
		commands(c, func(args []string) bool {
			switch strings.ToUpper(args[0]) {
			case "PING":
				io.WriteString(c, "+PONG\r\n")
			case "INFO":
				if len(args) > 1 && args[1] == "keyspace" {
					body := "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n"
					fmt.Fprintf(c, "$%d\r\n%s\r\n", len(body), body)
					return true
				}
				body := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\nuptime_in_seconds:10\r\n"
				fmt.Fprintf(c, "$%d\r\n%s\r\n", len(body), body)
			default:
				return other(c, args)
			}
			return true
		})
	}
}

func openFake(t *testing.T, ep datastore.Endpoint, timeout time.Duration) *Session {
	t.Helper()
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, timeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(fake Redis) = %+v, %v; want an open Redis", svc, err)
	}
	s, err := Driver{}.Open(context.Background(), svc, timeout)
	if err != nil {
		t.Fatalf("Open(fake Redis) = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*Session)
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestHostileProbe: peers that are not Redis, or that lie, cost at most
// the timeout and a bounded allocation, and are never called Redis.
func TestHostileProbe(t *testing.T) {
	const timeout = time.Second
	for name, serve := range map[string]func(net.Conn){
		"tarpit":         func(c net.Conn) { io.Copy(io.Discard, c) },
		"garbage":        func(c net.Conn) { c.Write([]byte("\x16\x03\x01\x02\x00 not RESP at all\r\n")); io.Copy(io.Discard, c) },
		"huge bulk":      func(c net.Conn) { io.WriteString(c, "$9223372036854775807\r\n"); io.Copy(io.Discard, c) },
		"huge array":     func(c net.Conn) { io.WriteString(c, "*2147483647\r\n"); io.Copy(io.Discard, c) },
		"endless line":   func(c net.Conn) { endless(c, '+') },
		"deep nesting":   func(c net.Conn) { io.WriteString(c, strings.Repeat("*1\r\n", 10000)); io.Copy(io.Discard, c) },
		"HTTP":           func(c net.Conn) { io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n") },
		"other pong":     func(c net.Conn) { io.WriteString(c, "+OK\r\n"); io.Copy(io.Discard, c) },
		"unknown errors": func(c net.Conn) { io.WriteString(c, "-FOO bar\r\n"); io.Copy(io.Discard, c) },
	} {
		t.Run(name, func(t *testing.T) {
			ep := datastoretest.Serve(t, serve)
			var svc *datastore.Service
			var err error
			start := time.Now()
			n := allocated(func() { svc, err = Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, timeout) })
			if took := time.Since(start); took > 2*timeout+margin {
				t.Errorf("Probe(%s) took %s, want at most about its timeout %s", name, took, timeout)
			}
			if n > 8<<20 {
				t.Errorf("Probe(%s) allocated %d bytes", name, n)
			}
			if svc != nil {
				t.Errorf("Probe(%s) = a %s service (auth %s), %v; want nil", name, svc.Engine, svc.Auth, err)
			}
		})
	}
}

// endless writes an endless line of kind.
func endless(c net.Conn, kind byte) {
	w := bufio.NewWriter(c)
	w.WriteByte(kind)
	chunk := []byte(strings.Repeat("a", 4096))
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// TestHostileSession: a server that passes the probe, then answers the
// inventory or a sample with huge or endless replies, costs an error
// within the timeout, not unbounded memory.
func TestHostileSession(t *testing.T) {
	const timeout = 2 * time.Second
	for name, other := range map[string]func(c net.Conn, args []string) bool{
		"tarpit": func(c net.Conn, args []string) bool { io.Copy(io.Discard, c); return false },
		"endless bulk": func(c net.Conn, args []string) bool {
			io.WriteString(c, "$1099511627776\r\n")
			endless(c, 'x')
			return false
		},
		"endless array": func(c net.Conn, args []string) bool {
			io.WriteString(c, "*2\r\n$1\r\n0\r\n*90000\r\n")
			elem := []byte("$100000\r\n" + strings.Repeat("k", 100000) + "\r\n") // made once: the test counts every allocation
			for {
				if _, err := c.Write(elem); err != nil {
					return false
				}
			}
		},
		"garbage": func(c net.Conn, args []string) bool { c.Write([]byte("\x00\xff\xfe garbage\r\n")); return true },
	} {
		t.Run(name, func(t *testing.T) {
			s := openFake(t, datastoretest.Serve(t, redisLike(other)), timeout)
			var err error
			var inv datastore.Inventory
			start := time.Now()
			n := allocated(func() { inv, err = s.Inventory(context.Background()) })
			if took := time.Since(start); took > timeout+margin {
				t.Errorf("Inventory(%s) took %s, want at most about its timeout %s", name, took, timeout)
			}
			if n > 2*datastore.SessionMemory {
				t.Errorf("Inventory(%s) allocated %d MiB", name, n>>20)
			}
			if err == nil && !inv.Truncated {
				t.Errorf("Inventory(%s) = %d databases, no error and not truncated; want the failure said", name, len(inv.Databases))
			}
		})
	}
}

// TestSampleBounded: a server whose values are huge gives back at most the
// caps: the first 8 KB of a string, and no more keys than asked for.
func TestSampleBounded(t *testing.T) {
	big := strings.Repeat("v", 1<<20)
	ep := datastoretest.Serve(t, redisLike(func(c net.Conn, args []string) bool {
		switch strings.ToUpper(args[0]) {
		case "SELECT":
			io.WriteString(c, "+OK\r\n")
		case "SCAN":
			io.WriteString(c, "*2\r\n$1\r\n0\r\n*3\r\n$5\r\nbig:1\r\n$5\r\nbig:2\r\n$5\r\nbig:3\r\n")
		case "TYPE":
			io.WriteString(c, "+string\r\n")
		case "GETRANGE":
			// A server that ignores the range.
			fmt.Fprintf(c, "$%d\r\n%s\r\n", len(big), big)
		default:
			io.WriteString(c, "-ERR unknown command\r\n")
		}
		return true
	}))
	s := openFake(t, ep, 5*time.Second)
	inv, err := s.Inventory(context.Background())
	if err != nil || len(inv.Databases) != 1 || len(inv.Databases[0].Tables) != 1 {
		t.Fatalf("Inventory = %+v, %v; want db0 with big:*", inv, err)
	}
	tb := inv.Databases[0].Tables[0]
	rows, err := s.Sample(context.Background(), tb, datastore.Limits{Random: 2, Bytes: 1 << 20})
	if err != nil {
		t.Fatalf("Sample = %v", err)
	}
	if len(rows.Values) != 2 {
		t.Errorf("Sample(Random 2) = %d rows, want 2", len(rows.Values))
	}
	for _, r := range rows.Values {
		for _, v := range r {
			if len(v) > valueByteCap {
				t.Errorf("Sample kept a value of %d bytes, want at most %d", len(v), valueByteCap)
			}
		}
	}
}

// TestReadOnlyGuard: no command outside the read-only list leaves the
// process, whatever a caller asks.
func TestReadOnlyGuard(t *testing.T) {
	sent := make(chan string, 10)
	ep := datastoretest.Serve(t, redisLike(func(c net.Conn, args []string) bool {
		sent <- strings.Join(args, " ")
		io.WriteString(c, "+OK\r\n")
		return true
	}))
	s := openFake(t, ep, 2*time.Second)
	for _, cmd := range [][]string{{"SET", "a", "b"}, {"CONFIG", "SET", "dir", "/"}, {"FLUSHALL"}, {"DEBUG", "SLEEP", "1"}, {"MONITOR"},
		{"SAVE"}, {"ACL", "SETUSER", "x"}, {"MODULE", "LOAD", "x"}, {"REPLICAOF", "NO", "ONE"}, {"EVAL", "return 1", "0"}} {
		_, err := s.run(context.Background(), cmd)
		if !errors.Is(err, errNotReadOnly) {
			t.Errorf("run(%q) = %v, want errNotReadOnly", cmd, err)
		}
	}
	select {
	case c := <-sent:
		t.Errorf("the server received %q", c)
	default:
	}
}

// TestInventoryWithoutScan: a server older than Redis 2.8 (no SCAN) is
// sampled with RANDOMKEY, never KEYS.
func TestInventoryWithoutScan(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	n := 0
	ep := datastoretest.Serve(t, redisLike(func(c net.Conn, args []string) bool {
		mu.Lock()
		seen = append(seen, strings.ToUpper(args[0]))
		mu.Unlock()
		switch strings.ToUpper(args[0]) {
		case "SELECT":
			io.WriteString(c, "+OK\r\n")
		case "RANDOMKEY":
			n++
			k := fmt.Sprintf("user:%d", n%3)
			fmt.Fprintf(c, "$%d\r\n%s\r\n", len(k), k)
		case "TYPE":
			io.WriteString(c, "+none\r\n")
		default:
			fmt.Fprintf(c, "-ERR unknown command '%s'\r\n", args[0])
		}
		return true
	}))
	s := openFake(t, ep, 5*time.Second)
	inv, err := s.Inventory(context.Background())
	if err != nil || len(inv.Databases) != 1 || len(inv.Databases[0].Tables) != 1 {
		t.Fatalf("Inventory = %+v, %v; want db0 with user:*", inv, err)
	}
	if tb := inv.Databases[0].Tables[0]; tb.Name != "user:*" || tb.Rows != 3 || tb.RowsExact {
		t.Errorf("db0 table = %+v, want user:* of about 3 keys, estimated", tb)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range seen {
		if c == "KEYS" {
			t.Errorf("KEYS was sent")
		}
	}
}
