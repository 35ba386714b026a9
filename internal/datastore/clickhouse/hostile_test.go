package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Fake peers for the hostile cases. Every one listens on 127.0.0.1 with a
// port the kernel picks; nothing here reaches beyond loopback.

// hangGuard is how long any one call may run before the test calls it a
// hang. It is a guard against hanging forever, not a speed requirement.
const hangGuard = 10 * time.Second

// allocCap is the most a single hostile exchange may make us allocate.
const allocCap = 64 << 20

// fakeServer runs handle on every connection accepted on 127.0.0.1:0.
type fakeServer struct {
	ln       net.Listener
	port     int
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func loopbackListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	return ln
}

func startFake(t *testing.T, handle func(net.Conn)) *fakeServer {
	t.Helper()
	s := &fakeServer{ln: loopbackListener(t), conns: map[net.Conn]bool{}}
	s.port = s.ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) endpoint() datastore.Endpoint {
	return datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: s.port}
}

func (s *fakeServer) addr() string { return s.endpoint().Addr() }

// tarpit accepts and never answers.
func tarpit(c net.Conn) { io.Copy(io.Discard, c) }

// replyOnce reads what the client sends first, answers payload, closes its
// side and reads until the client is gone.
func replyOnce(payload []byte) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 64<<10)
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write(payload); err != nil {
			return
		}
		c.(interface{ CloseWrite() error }).CloseWrite() // TCP and TLS alike
		io.Copy(io.Discard, c)
	}
}

// nativeServer answers the client's Hello with hello and its first query
// with reply, then closes its side.
func nativeServer(hello, reply []byte) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 64<<10)
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write(hello); err != nil {
			return
		}
		if reply == nil {
			io.Copy(io.Discard, c)
			return
		}
		replyOnce(reply)(c)
	}
}

func helloPacket() []byte {
	var w wireWriter
	w.uvarint(serverHello)
	w.str("ClickHouse")
	w.uvarint(23)
	w.uvarint(8)
	w.uvarint(clientRevision)
	w.str("UTC")
	w.str("fake-1")
	w.uvarint(5)
	return w.b
}

func exceptionPacket(code int32, name, message string) []byte {
	var w wireWriter
	w.uvarint(serverException)
	w.i32(code)
	w.str(name)
	w.str(message)
	w.str("0. DB::Exception::Exception() @ 0x0")
	w.u8(0)
	return w.b
}

// blockHeader starts a Data packet of nc columns and nr rows.
func blockHeader(nc, nr uint64) *wireWriter {
	w := &wireWriter{}
	w.uvarint(serverData)
	w.str("")
	w.uvarint(1)
	w.u8(0)
	w.uvarint(2)
	w.i32(-1)
	w.uvarint(0)
	w.uvarint(nc)
	w.uvarint(nr)
	return w
}

func endOfStream() []byte { return []byte{serverEndOfStream} }

// within runs f and fails the test if it has not returned after hangGuard.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("%s has not returned after %v: it hangs", what, hangGuard)
	}
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func probe(t *testing.T, ep datastore.Endpoint, timeout time.Duration) (svc *datastore.Service, err error) {
	t.Helper()
	within(t, fmt.Sprintf("Probe(%s)", ep), func() {
		svc, err = Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, timeout)
	})
	return svc, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProbeTarpit(t *testing.T) {
	s := startFake(t, tarpit)
	svc, err := probe(t, s.endpoint(), 300*time.Millisecond)
	if svc != nil {
		t.Fatalf("Probe(%s) = %+v, want no service from a peer that never answers", s.endpoint(), svc)
	}
	if !isTimeout(err) || !strings.Contains(err.Error(), "timeout") && !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("Probe(%s) error = %v, want a timeout that says so", s.endpoint(), err)
	}
	// A peer that never answers costs one timeout, not one per protocol.
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("Probe(%s) opened %d connections to a tarpit, want 1", s.endpoint(), n)
	}
}

func TestDialNativeTarpit(t *testing.T) {
	s := startFake(t, tarpit)
	var err error
	within(t, "dialNative", func() {
		var c *nativeConn
		c, err = dialNative(context.Background(), s.addr(), false, probeUser, "", 300*time.Millisecond)
		if c != nil {
			c.close()
		}
	})
	if !isTimeout(err) || !strings.Contains(err.Error(), "no answer to the native Hello") {
		t.Errorf("dialNative(%s) to a tarpit: error %v, want a timeout saying the Hello got no answer", s.addr(), err)
	}
}

func TestQueryTarpit(t *testing.T) {
	t.Run("native", func(t *testing.T) {
		s := startFake(t, nativeServer(helloPacket(), nil)) // answers Hello, then never a query
		c, err := dialNative(context.Background(), s.addr(), false, probeUser, "", 300*time.Millisecond)
		if err != nil {
			t.Fatalf("dialNative(%s) = %v", s.addr(), err)
		}
		defer c.close()
		var res *result
		within(t, "nativeConn.query", func() {
			res, err = c.query(context.Background(), "SELECT 1", nil, 1<<20)
		})
		if res != nil || !isTimeout(err) {
			t.Errorf("query on a server that never answers = %+v, %v, want a timeout", res, err)
		}
		if !c.broken {
			t.Errorf("after a timed out query the connection is not marked broken")
		}
	})
	t.Run("http", func(t *testing.T) {
		s := startFake(t, tarpit)
		h := newHTTPConn(s.addr(), false, probeUser, 300*time.Millisecond)
		defer h.close()
		var res *result
		var err error
		within(t, "httpConn.query", func() {
			res, err = h.query(context.Background(), "SELECT 1", nil, 1<<20)
		})
		if res != nil || !isTimeout(err) {
			t.Errorf("query on a server that never answers = %+v, %v, want a timeout", res, err)
		}
	})
}

// garbage is what hostile or foreign peers answer to a Hello.
func garbage() map[string][]byte {
	var hugeName wireWriter
	hugeName.uvarint(serverHello)
	hugeName.uvarint(1 << 40)

	var hugeException wireWriter
	hugeException.uvarint(serverException)
	hugeException.i32(194)
	hugeException.uvarint(1 << 40)

	var hugeTimezone wireWriter
	hugeTimezone.uvarint(serverHello)
	hugeTimezone.str("ClickHouse")
	hugeTimezone.uvarint(23)
	hugeTimezone.uvarint(8)
	hugeTimezone.uvarint(clientRevision)
	hugeTimezone.uvarint(maxWireString + 1)

	var justUnderCap wireWriter // a legal length the peer then never sends
	justUnderCap.uvarint(serverHello)
	justUnderCap.uvarint(maxWireString)
	justUnderCap.b = append(justUnderCap.b, "Click"...)

	var zeroVersion wireWriter
	zeroVersion.uvarint(serverHello)
	zeroVersion.str("ClickHouse")
	zeroVersion.uvarint(0)
	zeroVersion.uvarint(0)
	zeroVersion.uvarint(clientRevision)

	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	return map[string][]byte{
		"0xFF repeated":                 bytes.Repeat([]byte{0xff}, 4096),
		"hello name of 1<<40 bytes":     hugeName.b,
		"exception name of 1<<40 bytes": hugeException.b,
		"hello timezone over the cap":   hugeTimezone.b,
		"hello name never sent":         justUnderCap.b,
		"hello of version 0.0":          zeroVersion.b,
		"exception with code 0":         exceptionPacket(0, "DB::Exception", "odd"),
		"unknown packet type":           {99, 1, 2, 3},
		"SSH banner":                    []byte("SSH-2.0-OpenSSH_9.6\r\n"),
		"random bytes":                  random,
	}
}

func TestProbeGarbageAfterHello(t *testing.T) {
	for name, payload := range garbage() {
		t.Run(name, func(t *testing.T) {
			s := startFake(t, replyOnce(payload))
			var svc *datastore.Service
			var err error
			n := allocated(func() { svc, err = probe(t, s.endpoint(), 2*time.Second) })
			if svc != nil {
				t.Errorf("Probe(%s) answering %q = %+v, want no service", s.endpoint(), name, svc)
			}
			if isTimeout(err) {
				t.Errorf("Probe(%s) answering %q = %v, want an answer before the timeout", s.endpoint(), name, err)
			}
			if n > allocCap {
				t.Errorf("Probe(%s) answering %q allocated %d MB, want at most %d MB", s.endpoint(), name, n>>20, allocCap>>20)
			}

			var c *nativeConn
			n = allocated(func() {
				within(t, "dialNative", func() {
					c, err = dialNative(context.Background(), s.addr(), false, probeUser, "", 2*time.Second)
				})
			})
			if c != nil {
				c.close()
			}
			if !errors.Is(err, errNotClickHouse) {
				t.Errorf("dialNative(%s) answering %q = %v, want %v", s.addr(), name, err, errNotClickHouse)
			}
			if n > allocCap {
				t.Errorf("dialNative(%s) answering %q allocated %d MB, want at most %d MB", s.addr(), name, n>>20, allocCap>>20)
			}
		})
	}
}

// hostileReplies are answers to a query from a server that said a proper
// Hello first.
func hostileReplies() []struct {
	name    string
	reply   []byte
	wantErr bool
} {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	manyColumns := blockHeader(1<<40, 1)
	tooManyRows := blockHeader(1, maxBlockRows+1)

	hugeString := blockHeader(1, 1)
	hugeString.str("c")
	hugeString.str("String")
	hugeString.uvarint(1 << 40)

	unknownType := blockHeader(1, 1)
	unknownType.str("c")
	unknownType.str("Array(String)")

	badFixed := blockHeader(1, 1)
	badFixed.str("c")
	badFixed.str("FixedString(0)")

	hugeFixed := blockHeader(1, 1)
	hugeFixed.str("c")
	hugeFixed.str("FixedString(99999999999)")

	hugeTypeName := blockHeader(1, 1)
	hugeTypeName.str("c")
	hugeTypeName.uvarint(1 << 40)

	blockInfo := blockHeader(0, 0)
	blockInfo.b = []byte{serverData, 0, 7} // unknown block info field

	var hugeException wireWriter
	hugeException.uvarint(serverException)
	hugeException.i32(60)
	hugeException.uvarint(1 << 40)

	var progressForever []byte
	for range 1 << 18 {
		progressForever = append(progressForever, serverProgress, 1, 1, 1, 0, 0)
	}

	// A well-formed block of one row, over and over, far past maxBytes.
	var oneRow []byte
	for range 1 << 16 {
		b := blockHeader(1, 1)
		b.str("c")
		b.str("String")
		b.str("row")
		oneRow = append(oneRow, b.b...)
	}

	return []struct {
		name    string
		reply   []byte
		wantErr bool
	}{
		{"block of 1<<40 columns", manyColumns.b, true},
		{"block over the row cap", tooManyRows.b, true},
		{"string of 1<<40 bytes", hugeString.b, true},
		{"type name of 1<<40 bytes", hugeTypeName.b, true},
		{"column of an unknown type", unknownType.b, true},
		{"FixedString(0)", badFixed.b, true},
		{"FixedString wider than the cap", hugeFixed.b, true},
		{"unknown block info field", blockInfo.b, true},
		{"exception of 1<<40 bytes", hugeException.b, true},
		{"unknown packet type", []byte{42}, true},
		{"0xFF repeated", bytes.Repeat([]byte{0xff}, 64), true},
		{"stream cut short", blockHeader(1, 5).b, true},
		{"progress packets past maxBytes", cat(progressForever, endOfStream()), false},
		{"one-row blocks past maxBytes", cat(oneRow, endOfStream()), false},
	}
}

func TestNativeQueryHostileReplies(t *testing.T) {
	const maxBytes = 1 << 20
	for _, tc := range hostileReplies() {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, nativeServer(helloPacket(), tc.reply))
			c, err := dialNative(context.Background(), s.addr(), false, probeUser, "", 5*time.Second)
			if err != nil {
				t.Fatalf("dialNative(%s) = %v", s.addr(), err)
			}
			defer c.close()
			var res *result
			n := allocated(func() {
				within(t, "nativeConn.query", func() {
					res, err = c.query(context.Background(), "SELECT 1", nil, maxBytes)
				})
			})
			if n > allocCap {
				t.Errorf("query answered with %s allocated %d MB, want at most %d MB", tc.name, n>>20, allocCap>>20)
			}
			if isTimeout(err) {
				t.Fatalf("query answered with %s = %v, want an answer before the timeout", tc.name, err)
			}
			if tc.wantErr {
				if err == nil {
					t.Errorf("query answered with %s = %d rows, want an error", tc.name, len(res.rows))
				}
				if !c.broken {
					t.Errorf("query answered with %s left the connection usable, want it marked broken", tc.name)
				}
				return
			}
			if err != nil {
				t.Fatalf("query answered with %s = %v, want a truncated result", tc.name, err)
			}
			if !res.truncated || res.bytes > 2*maxBytes {
				t.Errorf("query answered with %s read %d bytes, truncated %v, want it cut off near %d bytes", tc.name, res.bytes, res.truncated, maxBytes)
			}
		})
	}
}

// Blocks whose size is legal field by field, but whose product is not: the
// read-back cap of a query must still bound what one packet costs.
func TestNativeQueryOversizedBlocks(t *testing.T) {
	const maxBytes = 1 << 20

	// Four UInt8 columns of maxBlockRows rows: 4 MB on the wire, in one
	// packet, for a query allowed to read 1 MB.
	wide := blockHeader(4, maxBlockRows)
	for c := range 4 {
		wide.str(fmt.Sprintf("c%d", c))
		wide.str("UInt8")
		wide.b = append(wide.b, make([]byte, maxBlockRows)...)
	}

	// A block of no columns and maxBlockRows rows is 14 bytes long.
	empty := blockHeader(0, maxBlockRows).b

	for _, tc := range []struct {
		name  string
		reply []byte
	}{
		{"4 columns × 1<<20 rows in one packet", append(wide.b, serverEndOfStream)},
		{"0 columns × 1<<20 rows", append(empty, serverEndOfStream)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, nativeServer(helloPacket(), tc.reply))
			c, err := dialNative(context.Background(), s.addr(), false, probeUser, "", 5*time.Second)
			if err != nil {
				t.Fatalf("dialNative(%s) = %v", s.addr(), err)
			}
			defer c.close()
			var res *result
			n := allocated(func() {
				within(t, "nativeConn.query", func() {
					res, err = c.query(context.Background(), "SELECT 1", nil, maxBytes)
				})
			})
			rows := 0
			if res != nil {
				rows = len(res.rows)
			}
			if n > allocCap {
				t.Errorf("query(maxBytes %d) answered with %s allocated %d MB and returned %d rows, %v; want at most %d MB",
					maxBytes, tc.name, n>>20, rows, err, allocCap>>20)
			}
		})
	}
}

// Narrow rows cost far more to hold than to read: one byte of UInt8 becomes
// a string in a column, a string in a row and the row itself. The byte
// budget of a query must still bound what a peer makes us allocate.
func TestNativeQueryNarrowRowsBoundedMemory(t *testing.T) {
	const maxBytes = 1 << 20
	var reply []byte
	for range maxBytes>>16 + 2 {
		b := blockHeader(1, 1<<16)
		b.str("c")
		b.str("UInt8")
		b.b = append(b.b, make([]byte, 1<<16)...)
		reply = append(reply, b.b...)
	}
	reply = append(reply, serverEndOfStream)
	s := startFake(t, nativeServer(helloPacket(), reply))
	c, err := dialNative(context.Background(), s.addr(), false, probeUser, "", 5*time.Second)
	if err != nil {
		t.Fatalf("dialNative(%s) = %v", s.addr(), err)
	}
	defer c.close()
	var res *result
	n := allocated(func() {
		within(t, "nativeConn.query", func() { res, err = c.query(context.Background(), "SELECT 1", nil, maxBytes) })
	})
	if err != nil {
		t.Fatalf("query answered with 1-byte rows = %v, want a truncated result", err)
	}
	if n > allocCap {
		t.Errorf("query(maxBytes %d) answered with 1-byte rows allocated %d MB for %d rows, want at most %d MB",
			maxBytes, n>>20, len(res.rows), allocCap>>20)
	}
}

// A real server's exception carries its stack trace, often a few KB: more
// than the budget of the small queries that expect a refusal (the file()
// and readonly probes read back 4096 bytes). The refusal must still come
// back as the server's error, not as an empty success.
func TestNativeQueryExceptionOverBudget(t *testing.T) {
	const maxBytes = 4096
	for _, stack := range []int{1000, 3500, 8000} {
		t.Run(fmt.Sprint(stack), func(t *testing.T) {
			var w wireWriter
			w.uvarint(serverException)
			w.i32(164)
			w.str("DB::Exception")
			w.str("DB::Exception: default: Cannot execute query in readonly mode")
			w.str(strings.Repeat("0. DB::Exception::Exception() @ 0x000000000c1a2b3c in /usr/bin/clickhouse\n", stack/80))
			w.u8(0)
			s := startFake(t, nativeServer(helloPacket(), w.b))
			c, err := dialNative(context.Background(), s.addr(), false, probeUser, "", 5*time.Second)
			if err != nil {
				t.Fatalf("dialNative(%s) = %v", s.addr(), err)
			}
			defer c.close()
			var res *result
			within(t, "nativeConn.query", func() { res, err = c.query(context.Background(), "SELECT 1", nil, maxBytes) })
			var se *ServerError
			if !errors.As(err, &se) || se.Code != 164 {
				t.Errorf("query(maxBytes %d) refused with a %d-byte exception = %+v, %v, want ClickHouse error 164", maxBytes, len(w.b), res, err)
			}
		})
	}
}

// queryEnd is how every query packet ends: the empty block that says there
// are no external tables.
var queryEnd = func() []byte {
	var w wireWriter
	encodeEmptyBlock(&w)
	return w.b
}()

// sessionServer says Hello, then answers each query with answer(packet),
// for as many queries as the client sends on the connection.
func sessionServer(answer func(query []byte) []byte) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 64<<10)
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write(helloPacket()); err != nil {
			return
		}
		var q []byte
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			q = append(q, buf[:n]...)
			if !bytes.HasSuffix(q, queryEnd) {
				continue
			}
			if _, err := c.Write(answer(q)); err != nil {
				return
			}
			q = q[:0]
		}
	}
}

func stringBlock(names []string, rows ...[]string) []byte {
	w := blockHeader(uint64(len(names)), uint64(len(rows)))
	for c, name := range names {
		w.str(name)
		w.str("String")
		for _, r := range rows {
			w.str(r[c])
		}
	}
	return append(w.b, serverEndOfStream)
}

// The user-visible side of the exception budget: a readonly server that
// refuses table functions with its usual stack trace must not be reported
// as letting them run.
func TestPrivilegesRefusalsWithLongStackTraces(t *testing.T) {
	var refusal wireWriter
	refusal.uvarint(serverException)
	refusal.i32(164)
	refusal.str("DB::Exception")
	refusal.str("DB::Exception: default: Table functions are forbidden in readonly mode")
	refusal.str(strings.Repeat("0. DB::Exception::Exception() @ 0x000000000c1a2b3c in /usr/bin/clickhouse\n", 100))
	refusal.u8(0)
	s := startFake(t, sessionServer(func(q []byte) []byte {
		switch {
		case bytes.Contains(q, []byte("name IN ('readonly', 'allow_ddl')")):
			return stringBlock([]string{"name", "value"}, []string{"readonly", "1"}, []string{"allow_ddl", "1"})
		case bytes.Contains(q, []byte("name = 'readonly'")):
			return stringBlock([]string{"value"}, []string{"1"}) // a readonly=1 profile keeps its level
		}
		return refusal.b
	}))
	svc := &datastore.Service{Endpoint: s.endpoint(), Engine: "clickhouse", Protocol: "native", Auth: datastore.AuthNone, User: probeUser}
	var p datastore.Privileges
	var err error
	within(t, "Privileges", func() {
		var sess datastore.Session
		sess, err = Driver{}.Open(context.Background(), svc, 5*time.Second)
		if err != nil {
			return
		}
		defer sess.Close()
		p, err = sess.Privileges(context.Background())
	})
	if err != nil {
		t.Fatalf("Privileges(%s) = %v", svc.Endpoint, err)
	}
	if p.Readonly != datastore.Yes || granted(p, "table_functions") != datastore.No || granted(p, "file") != datastore.No {
		t.Errorf("Privileges(%s) = readonly %v, table functions %v, file() %v (evidence %q), want readonly, both refused",
			svc.Endpoint, p.Readonly, granted(p, "table_functions"), granted(p, "file"), p.Evidence)
	}
}

// nestedExceptions streams an exception nested n levels deep: each level is
// a code, three empty strings and "another one follows"; the last says none
// does.
type nestedExceptions struct {
	n   int64 // levels
	off int64 // bytes already read
}

func (e *nestedExceptions) Read(p []byte) (int, error) {
	size := 8 * (e.n + 1)
	if e.off >= size {
		return 0, io.EOF
	}
	i := 0
	for ; i < len(p) && e.off < size; i, e.off = i+1, e.off+1 {
		switch e.off % 8 {
		case 0:
			p[i] = 60
		case 7:
			if e.off < size-8 {
				p[i] = 1
			} else {
				p[i] = 0
			}
		default:
			p[i] = 0
		}
	}
	return i, nil
}

// A peer can nest exceptions as deep as it likes; how deep must never decide
// whether the scanner survives. A stack overflow cannot be recovered, so
// the probe runs in a child process, with a stack limit smaller than Go's
// default of 1 GB so that the child stays small. (With the default limit
// the crash is the same; it only takes more bytes.)
func TestProbeNestedExceptions(t *testing.T) {
	const levels = 1 << 30
	if os.Getenv("LEAKHOUND_NESTED_EXCEPTION_CHILD") == "1" {
		debug.SetMaxStack(64 << 20)
		s := startFake(t, func(c net.Conn) {
			c.SetDeadline(time.Now().Add(hangGuard))
			buf := make([]byte, 64<<10)
			if _, err := c.Read(buf); err != nil {
				return
			}
			w := bufio.NewWriterSize(c, 64<<10)
			w.WriteByte(serverException)
			io.Copy(w, &nestedExceptions{n: levels})
			w.Flush()
		})
		svc, err := probe(t, s.endpoint(), 2*time.Second)
		fmt.Printf("Probe returned %+v, %v\n", svc, err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeNestedExceptions$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LEAKHOUND_NESTED_EXCEPTION_CHILD=1")
	var out []byte
	var err error
	within(t, "the child probing nested exceptions", func() { out, err = cmd.CombinedOutput() })
	if err != nil {
		first, _, _ := strings.Cut(string(out), "\n\n")
		t.Errorf("Probe on a peer nesting exceptions %d levels deep killed the process (%v):\n%s", levels, err, first)
	}
}

func TestProbeNativeException(t *testing.T) {
	for _, tc := range []struct {
		code     int32
		name     string
		message  string
		wantAuth datastore.Auth
	}{
		{194, "DB::Exception", "Password required for user default", datastore.AuthRequired},
		{516, "DB::Exception", "default: Authentication failed: password is incorrect, or there is no user with such name.", datastore.AuthRequired},
		{195, "DB::Exception", "User default is not allowed to connect from address 192.0.2.1", datastore.AuthIPRestricted},
		{60, "DB::Exception", "Table x doesn't exist", datastore.AuthUnknown},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			s := startFake(t, replyOnce(exceptionPacket(tc.code, tc.name, tc.message)))
			ep := s.endpoint()
			svc, err := probe(t, ep, 2*time.Second)
			if err != nil || svc == nil {
				t.Fatalf("Probe(%s) = %+v, %v, want a native service", ep, svc, err)
			}
			if svc.Protocol != "native" || svc.TLS || svc.Auth != tc.wantAuth || svc.AuthCode != int(tc.code) || svc.AuthMessage != tc.message {
				t.Errorf("Probe(%s) = protocol %s tls %v auth %q code %d message %q, want native, no TLS, %q, %d, %q",
					ep, svc.Protocol, svc.TLS, svc.Auth, svc.AuthCode, svc.AuthMessage, tc.wantAuth, tc.code, tc.message)
			}
			if svc.Endpoint.Port != ep.Port || svc.User != probeUser {
				t.Errorf("Probe(%s) = endpoint %s user %q, want %s and %q", ep, svc.Endpoint, svc.User, ep, probeUser)
			}
		})
	}
}

func TestProbeNativeHello(t *testing.T) {
	s := startFake(t, replyOnce(helloPacket()))
	ep := s.endpoint()
	svc, err := probe(t, ep, 2*time.Second)
	if err != nil || svc == nil {
		t.Fatalf("Probe(%s) = %+v, %v, want a native service", ep, svc, err)
	}
	want := datastore.Service{Endpoint: ep, Engine: "clickhouse", Protocol: "native", Version: "23.8.5",
		Timezone: "UTC", DisplayName: "fake-1", Auth: datastore.AuthNone, User: probeUser}
	got := *svc
	if got.Endpoint.String() != ep.String() {
		t.Errorf("Probe(%s) = service on %s, want %s", ep, got.Endpoint, ep)
	}
	got.Endpoint, want.Endpoint = datastore.Endpoint{}, datastore.Endpoint{}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Probe(%s) = %+v, want %+v", ep, got, want)
	}
}

// Probe's HTTP question has one right answer; an HTTP server that answers
// anything else, as nginx answers "Ok.", is not ClickHouse.
func TestProbeHTTPServerIsNotClickHouse(t *testing.T) {
	for _, body := range []string{"Ok.\n", "25.3.1.1\tUTC\t42\n", "<html><body>hello</body></html>"} {
		// net/http waits for the line a native Hello never ends, so the
		// native attempt runs into its deadline: it must still not count.
		t.Run("net/http "+strings.TrimSpace(body), func(t *testing.T) {
			srv := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, body)
			}))
			ep := datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
			svc, err := probe(t, ep, time.Second)
			if svc != nil || err != nil {
				t.Errorf("Probe(%s) answering %q = %+v, %v, want nil, nil", ep, body, svc, err)
			}
		})
		// nginx answers whatever arrives at once, a native Hello with a 400.
		t.Run("raw "+strings.TrimSpace(body), func(t *testing.T) {
			s := startFake(t, replyOnce([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body))))
			svc, err := probe(t, s.endpoint(), time.Second)
			if svc != nil || err != nil {
				t.Errorf("Probe(%s) answering %q = %+v, %v, want nil, nil", s.endpoint(), body, svc, err)
			}
		})
	}
}

// startHTTP serves h on 127.0.0.1:0.
func startHTTP(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = loopbackListener(t)
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func TestHTTPQueryEndlessBody(t *testing.T) {
	const maxBytes = 1 << 20
	var written atomic.Int64
	var once sync.Once
	done := make(chan struct{})
	srv := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer once.Do(func() { close(done) })
		lines := bytes.Repeat([]byte("a\tb\n"), 1024)
		for {
			n, err := w.Write(lines)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	h := newHTTPConn(srv.Listener.Addr().String(), false, probeUser, 5*time.Second)
	defer h.close()
	var res *result
	var err error
	within(t, "httpConn.query", func() { res, err = h.query(context.Background(), "SELECT 1", nil, maxBytes) })
	if err != nil {
		t.Fatalf("query on an endless body = %v, want a truncated result", err)
	}
	// Reading stops at the byte cap, or sooner at the row cap.
	if !res.truncated || res.bytes > maxBytes {
		t.Errorf("query on an endless body = %d bytes, truncated %v, want at most %d bytes, truncated", res.bytes, res.truncated, maxBytes)
	}
	// Whole lines only, and never more rows than the client-side cap.
	if want := min(maxBytes/4, queryRowCap); len(res.rows) != want {
		t.Errorf("query on an endless body = %d rows, want %d (whole lines up to the row cap)", len(res.rows), want)
	}
	for i, r := range res.rows {
		if len(r) != 2 || r[0] != "a" || r[1] != "b" {
			t.Fatalf("row %d = %q, want [a b]", i, r)
		}
	}
	// The client has hung up: the server's writes must start failing.
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("the server still writes %v after the query returned: the client keeps reading", hangGuard)
	}
	if n := written.Load(); n > allocCap {
		t.Errorf("the server wrote %d MB before the client hung up, want at most %d MB", n>>20, allocCap>>20)
	}
}

// gigantic answers any request with a 10 MB header line.
func gigantic(c net.Conn) {
	c.SetDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 64<<10)
	if _, err := c.Read(buf); err != nil {
		return
	}
	go io.Copy(io.Discard, c)
	if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte{'a'}, 64<<10)
	for range 10 << 20 / len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
	io.WriteString(c, "\r\n\r\nOk.\n")
}

func TestGiganticHTTPHeader(t *testing.T) {
	s := startFake(t, gigantic)
	h := newHTTPConn(s.addr(), false, probeUser, 5*time.Second)
	defer h.close()
	var resp *httpResponse
	var err error
	within(t, "httpConn.get", func() { resp, err = h.get(context.Background(), "query=SELECT+1", 1<<20) })
	if err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("get on a 10 MB header = %+v, %v, want an error about the header", resp, err)
	}
	svc, err := probe(t, s.endpoint(), 5*time.Second)
	if svc != nil {
		t.Errorf("Probe(%s) on a 10 MB header = %+v, %v, want no service", s.endpoint(), svc, err)
	}
}
