package memcached

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// fake is a memcached on 127.0.0.1:0 that answers the text protocol as
// answer says (nil: the normal answer), and binary version and stat.
type fake struct {
	ep     datastore.Endpoint
	answer func(cmd string, w *bufio.Writer) bool // true: handled
}

func startFake(t *testing.T, answer func(cmd string, w *bufio.Writer) bool) *fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{answer: answer, ep: datastore.Endpoint{Host: "127.0.0.1", IP: net.IPv4(127, 0, 0, 1), Port: ln.Addr().(*net.TCPAddr).Port}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
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
			go func() { defer wg.Done(); defer c.Close(); f.serve(c) }()
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
	return f
}

func (f *fake) serve(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	first, err := r.Peek(1)
	if err != nil {
		return
	}
	if first[0] == binReq {
		for {
			var h [24]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				return
			}
			op := h[1]
			body := []byte("1.6.99")
			if op == opStat {
				body = nil // the end of the stats
			}
			var res [24]byte
			res[0], res[1] = binRes, op
			binary.BigEndian.PutUint32(res[8:], uint32(len(body)))
			w.Write(res[:])
			w.Write(body)
			w.Flush()
		}
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(l, "\r\n")
		if f.answer != nil && f.answer(cmd, w) {
			if w.Flush() != nil {
				return
			}
			continue
		}
		switch {
		case cmd == "version":
			w.WriteString("VERSION 1.6.99\r\n")
		case cmd == "stats":
			w.WriteString("STAT pid 42\r\nSTAT uptime 10\r\nSTAT time 1800000000\r\nSTAT curr_items 2\r\nSTAT bytes 200\r\nEND\r\n")
		case cmd == "stats settings":
			w.WriteString("STAT shutdown_command no\r\nEND\r\n")
		case cmd == "lru_crawler metadump all":
			w.WriteString("key=session%3Aa exp=-1 la=1 cas=1 fetch=no cls=1 size=70\r\nkey=session%3Ab exp=-1 la=1 cas=2 fetch=no cls=1 size=70\r\nEND\r\n")
		case strings.HasPrefix(cmd, "get "):
			for _, k := range strings.Fields(cmd)[1:] {
				fmt.Fprintf(w, "VALUE %s 0 5\r\nhello\r\n", k)
			}
			w.WriteString("END\r\n")
		case cmd == "quit":
			return
		default:
			w.WriteString("ERROR\r\n")
		}
		if w.Flush() != nil {
			return
		}
	}
}

const hostileTimeout = 2 * time.Second

func openFake(t *testing.T, f *fake) *Session {
	t.Helper()
	ctx := context.Background()
	svc, err := Driver{}.Probe(ctx, f.ep, datastore.FirstLook{}, hostileTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(fake) = %+v, %v; want an open memcached", svc, err)
	}
	s, err := Driver{}.Open(ctx, svc, hostileTimeout)
	if err != nil {
		t.Fatalf("Open(fake) = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*Session)
}

var sampleLimits = datastore.Limits{Rows: 20, Random: 100, Bytes: 1 << 20, Timeout: hostileTimeout}

// TestFakeServer checks the fake itself: an honest answer is read whole.
func TestFakeServer(t *testing.T) {
	s := openFake(t, startFake(t, nil))
	inv, err := s.Inventory(context.Background())
	if err != nil || len(inv.Databases) != 1 || len(inv.Databases[0].Tables) != 1 {
		t.Fatalf("Inventory = %+v, %v; want one pattern", inv, err)
	}
	tb := inv.Databases[0].Tables[0]
	if tb.Name != "session:*" || tb.Rows != 2 || !tb.RowsExact || tb.Bytes != 140 {
		t.Errorf("table = %+v; want session:* of 2 keys, 140 bytes", tb)
	}
	rows, err := s.Sample(context.Background(), tb, sampleLimits)
	if err != nil || len(rows.Values) != 2 || rows.Columns[1] != "session:b" || rows.Values[1][1] != "hello" || rows.Values[1][0] != "" {
		t.Errorf("Sample = %+v, %v; want session:a and session:b, each in its own column", rows, err)
	}
}

// TestHostileServers: each attack costs a timeout or a clear error, and
// what is held stays within the caps.
func TestHostileServers(t *testing.T) {
	ctx := context.Background()
	t.Run("endless metadump", func(t *testing.T) {
		s := openFake(t, startFake(t, func(cmd string, w *bufio.Writer) bool {
			if cmd != "lru_crawler metadump all" {
				return false
			}
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(w, "key=k%%3A%d%s exp=-1 la=1 cas=1 fetch=no cls=1 size=70\r\n", i, strings.Repeat("x", 100)); err != nil {
					return true
				}
			}
		}))
		start := time.Now()
		inv, err := s.Inventory(ctx)
		if err != nil {
			t.Fatalf("Inventory = %v; want the dump cut and counted", err)
		}
		if !inv.Truncated || time.Since(start) > 3*hostileTimeout {
			t.Errorf("Inventory of an endless dump: truncated %v after %s; want truncated within %s", inv.Truncated, time.Since(start), 3*hostileTimeout)
		}
		if s.invHeld > datastore.SessionMemory {
			t.Errorf("held %d bytes of the dump, want at most %d", s.invHeld, datastore.SessionMemory)
		}
		t.Logf("endless dump: %v", inv.Truncation)
	})
	t.Run("huge value", func(t *testing.T) {
		s := openFake(t, startFake(t, func(cmd string, w *bufio.Writer) bool {
			if !strings.HasPrefix(cmd, "get ") {
				return false
			}
			w.WriteString("VALUE session:a 0 1099511627776\r\n")
			w.Write(make([]byte, 1<<20))
			return true
		}))
		rows, err := s.Sample(ctx, datastore.Table{Database: Database, Name: "session:*", Kind: "keys", Rows: 2}, sampleLimits)
		if err != nil || len(rows.Values) != 0 || len(rows.Truncation) == 0 {
			t.Errorf("Sample of a 1 TiB value = %d rows, %v, truncation %q; want none read, said so", len(rows.Values), err, rows.Truncation)
		}
	})
	t.Run("endless line", func(t *testing.T) {
		s := openFake(t, startFake(t, func(cmd string, w *bufio.Writer) bool {
			if cmd != "stats" {
				return false
			}
			w.WriteString("STAT pid ")
			for w.Flush() == nil {
				w.Write(make([]byte, 64<<10))
			}
			return true
		}))
		if _, err := s.ServerID(ctx); err == nil || !strings.Contains(err.Error(), "8 KiB") {
			t.Errorf("ServerID of an endless STAT line = %v; want an error naming the line cap", err)
		}
	})
	t.Run("tarpit after version", func(t *testing.T) {
		s := openFake(t, startFake(t, func(cmd string, w *bufio.Writer) bool {
			if cmd != "lru_crawler metadump all" {
				return false
			}
			time.Sleep(2 * hostileTimeout)
			return true
		}))
		start := time.Now()
		inv, err := s.Inventory(ctx)
		// The keys cannot be listed: the cache is one table of stats'
		// count, and the inventory says why.
		if took := time.Since(start); err != nil || !inv.Truncated || !strings.Contains(strings.Join(inv.Truncation, ";"), "timeout") || took > 3*hostileTimeout {
			t.Errorf("Inventory of a silent dump = truncated %v %q, %v after %s; want it truncated for the timeout within %s", inv.Truncated, inv.Truncation, err, took, 3*hostileTimeout)
		}
	})
	t.Run("garbage value head", func(t *testing.T) {
		s := openFake(t, startFake(t, func(cmd string, w *bufio.Writer) bool {
			if !strings.HasPrefix(cmd, "get ") {
				return false
			}
			w.WriteString("VALUE session:a 0 -5\r\n")
			return true
		}))
		_, err := s.Sample(ctx, datastore.Table{Database: Database, Name: "session:*", Kind: "keys", Rows: 2}, sampleLimits)
		if err == nil || !strings.Contains(err.Error(), "not a memcached answer") {
			t.Errorf("Sample with a negative length = %v; want a protocol error", err)
		}
	})
	t.Run("binary huge body", func(t *testing.T) {
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
					var h [24]byte
					io.ReadFull(c, h[:])
					h[0], h[1] = binRes, opVersion
					binary.BigEndian.PutUint32(h[8:], 1<<31)
					c.Write(h[:])
					c.Write(make([]byte, 1<<16))
					io.Copy(io.Discard, c)
				}()
			}
		}()
		ep := datastore.Endpoint{Host: "127.0.0.1", IP: net.IPv4(127, 0, 0, 1), Port: ln.Addr().(*net.TCPAddr).Port}
		svc, err := Driver{}.Probe(ctx, ep, datastore.FirstLook{}, hostileTimeout)
		if svc != nil {
			t.Errorf("Probe(a 2 GiB binary version) = %+v, %v; want nil", svc, err)
		}
	})
}

// TestUnfetchableKeys: a key holding a space or a line end (set through
// the binary protocol) is never put in a text command.
func TestUnfetchableKeys(t *testing.T) {
	for _, k := range []string{"a b", "a\r\nflush_all", "a\x00", strings.Repeat("k", 251), ""} {
		if fetchable(k) {
			t.Errorf("fetchable(%q) = true", k)
		}
	}
	for _, k := range []string{"session:1", "esc\x1b]0;x\x07:note", "x';DROP_TABLE_t;--:note"} {
		if !fetchable(k) {
			t.Errorf("fetchable(%q) = false", k)
		}
	}
}
