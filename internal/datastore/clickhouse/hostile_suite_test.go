package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// The hostile-peer suite: each case is one attack, run in a child process
// of its own so that the parent (TestHostilePeakRSS) can read the child's
// peak RSS from the kernel and hold it to a fixed bound (see peakRSS) and
// its time to a few times its budget. A case joins by adding itself to
// hostileCases (from any _test.go file, in an init func); it runs in the
// child with nothing else in the process.

// hostileCase is one attack.
type hostileCase struct {
	// budget is what the attack may cost in time: the case is given it
	// and must return within a few times it.
	budget time.Duration
	// servers is how many sessions the case holds open at once (0: one);
	// each may cost the process hostileRSSPerServer.
	servers int
	run     func(t *testing.T, budget time.Duration)
}

// hostileCaseEnv names the case a child process runs.
const hostileCaseEnv = "LEAKHOUND_HOSTILE_CASE"

// hostileQueryTimeout is the per-query timeout sessions of the suite run
// with, as --timeout would set it.
const hostileQueryTimeout = 5 * time.Second

var hostileCases = map[string]hostileCase{
	"native blocks of 4096 empty-string columns × 512 rows": {budget: 30 * time.Second, run: func(t *testing.T, budget time.Duration) {
		s := startFake(t, endlessNative(wideEmptyBlock()))
		assessHostile(t, nativeService(s.endpoint()), budget)
	}},
	"native block header of 2^31 columns × 2^31 rows": {budget: 30 * time.Second, run: func(t *testing.T, budget time.Duration) {
		s := startFake(t, endlessNative(blockHeader(1<<31, 1<<31).b))
		assessHostile(t, nativeService(s.endpoint()), budget)
	}},
	"native block header of 4096 columns × 2^20 rows": {budget: 30 * time.Second, run: func(t *testing.T, budget time.Duration) {
		s := startFake(t, endlessNative(blockHeader(maxColumns, maxBlockRows).b))
		assessHostile(t, nativeService(s.endpoint()), budget)
	}},
	"HTTP lines of 4095 tabs": {budget: 30 * time.Second, run: func(t *testing.T, budget time.Duration) {
		ep := endlessHTTP(t, bytes.Repeat([]byte("\t"), 4095))
		assessHostile(t, httpService(ep), budget)
	}},
	"HTTP endless body": {budget: 30 * time.Second, run: func(t *testing.T, budget time.Duration) {
		ep := endlessHTTP(t, []byte("a\tb"))
		assessHostile(t, httpService(ep), budget)
	}},
	"three hostile servers assessed at once": {budget: 30 * time.Second, servers: 3, run: func(t *testing.T, budget time.Duration) {
		svcs := []*datastore.Service{
			nativeService(startFake(t, endlessNative(wideEmptyBlock())).endpoint()),
			nativeService(startFake(t, endlessNative(wideEmptyBlock())).endpoint()),
			httpService(endlessHTTP(t, bytes.Repeat([]byte("\t"), 4095))),
		}
		var wg sync.WaitGroup
		for _, svc := range svcs {
			wg.Go(func() { assessHostile(t, svc, budget) })
		}
		wg.Wait()
	}},
	"native blocks of 64 empty-string columns × 4096 rows": {budget: 30 * time.Second, run: func(t *testing.T, budget time.Duration) {
		assessHostile(t, nativeService(startFake(t, endlessNative(narrowEmptyBlock())).endpoint()), budget)
	}},
	"three servers of blocks each within the budget, at once": {budget: 30 * time.Second, servers: 3, run: func(t *testing.T, budget time.Duration) {
		var wg sync.WaitGroup
		for range 3 {
			svc := nativeService(startFake(t, endlessNative(narrowEmptyBlock())).endpoint())
			wg.Go(func() { assessHostile(t, svc, budget) })
		}
		wg.Wait()
	}},
	"probe of a tarpit": {budget: 300 * time.Millisecond, run: func(t *testing.T, budget time.Duration) {
		s := startFake(t, tarpit)
		if svc, _ := probe(t, s.endpoint(), budget); svc != nil {
			t.Errorf("Probe(%s) = %+v, want no service from a tarpit", s.endpoint(), svc)
		}
	}},
	"probe of a 10 MB HTTP header": {budget: 5 * time.Second, run: func(t *testing.T, budget time.Duration) {
		s := startFake(t, gigantic)
		if svc, _ := probe(t, s.endpoint(), budget); svc != nil {
			t.Errorf("Probe(%s) = %+v, want no service", s.endpoint(), svc)
		}
	}},
	"probe of exceptions nested 2^30 deep": {budget: 2 * time.Second, run: func(t *testing.T, budget time.Duration) {
		s := startFake(t, func(c net.Conn) {
			c.SetDeadline(time.Now().Add(hangGuard))
			buf := make([]byte, 64<<10)
			if _, err := c.Read(buf); err != nil {
				return
			}
			w := bufio.NewWriterSize(c, 64<<10)
			w.WriteByte(serverException)
			io.Copy(w, &nestedExceptions{n: 1 << 30})
			w.Flush()
		})
		if svc, _ := probe(t, s.endpoint(), budget); svc != nil {
			t.Errorf("Probe(%s) = %+v, want no service", s.endpoint(), svc)
		}
	}},
	"probes of every garbage Hello, one after another": {budget: 2 * time.Second, run: func(t *testing.T, budget time.Duration) {
		for name, payload := range garbage() {
			s := startFake(t, replyOnce(payload))
			if svc, _ := probe(t, s.endpoint(), budget); svc != nil {
				t.Errorf("Probe(%s) answering %s = %+v, want no service", s.endpoint(), name, svc)
			}
		}
	}},
	"every hostile query reply, one after another": {budget: 5 * time.Second, run: func(t *testing.T, budget time.Duration) {
		for _, tc := range hostileReplies() {
			assessHostile(t, nativeService(startFake(t, endlessNative(tc.reply)).endpoint()), budget)
		}
	}},
}

// TestHostileChild runs the case named by LEAKHOUND_HOSTILE_CASE; run
// without it, it does nothing.
func TestHostileChild(t *testing.T) {
	name := os.Getenv(hostileCaseEnv)
	if name == "" {
		t.Skip("runs only as the child of TestHostilePeakRSS")
	}
	c, ok := hostileCases[name]
	if !ok {
		t.Fatalf("no hostile case %q", name)
	}
	c.run(t, c.budget)
}

// assessHostile does to svc what a scan does to a server it may read:
// privileges, identity, inventory, and a sample of a table, the last of
// which is named here since a hostile server lists nothing usable. Errors
// are the expected outcome; what is measured is what they cost.
func assessHostile(t *testing.T, svc *datastore.Service, budget time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	sess, err := Driver{}.Open(ctx, svc, hostileQueryTimeout)
	if err != nil {
		t.Logf("Open(%s) = %v", svc.Endpoint, err)
		return
	}
	defer sess.Close()
	_, err = sess.Privileges(ctx)
	t.Logf("Privileges(%s) error: %v", svc.Endpoint, short(err))
	_, err = sess.ServerID(ctx)
	t.Logf("ServerID(%s) error: %v", svc.Endpoint, short(err))
	inv, err := sess.Inventory(ctx)
	t.Logf("Inventory(%s) = %d databases, error: %v", svc.Endpoint, len(inv.Databases), short(err))
	tab := datastore.Table{Database: "default", Name: "log_stream", Engine: "MergeTree", Rows: 1 << 20, RowsExact: true,
		Columns: []datastore.Column{{Name: "message", Type: "String"}}}
	rows, err := sess.Sample(ctx, tab, datastore.Limits{Rows: 20, Bytes: queryByteCap, Keywords: []string{"password", "sk-"}, Random: 20})
	t.Logf("Sample(%s) = %d rows, %d bytes read, error: %v", svc.Endpoint, len(rows.Values), rows.ReadBytes, short(err))
}

// short keeps a log line of the suite readable.
func short(err error) string {
	if err == nil {
		return "none"
	}
	return printable([]byte(err.Error()), 300)
}

func nativeService(ep datastore.Endpoint) *datastore.Service {
	return &datastore.Service{Endpoint: ep, Engine: "clickhouse", Protocol: "native", Auth: datastore.AuthNone, User: probeUser}
}

func httpService(ep datastore.Endpoint) *datastore.Service {
	return &datastore.Service{Endpoint: ep, Engine: "clickhouse", Protocol: "http", Auth: datastore.AuthNone, User: probeUser}
}

// wideEmptyBlock is a Data packet of 4096 String columns × 512 rows of
// empty strings: 2 MB on the wire, a million cells.
func wideEmptyBlock() []byte {
	const cols, rows = 4096, 512
	w := blockHeader(cols, rows)
	for c := range cols {
		w.str(fmt.Sprintf("c%d", c))
		w.str("String")
		w.b = append(w.b, make([]byte, rows)...) // each value: length 0
	}
	return w.b
}

// narrowEmptyBlock is a Data packet of 64 String columns × 4096 rows of
// empty strings: 260 KB on the wire, 8 MB held, within the budget alone.
func narrowEmptyBlock() []byte {
	const cols, rows = 64, 4096
	w := blockHeader(cols, rows)
	for c := range cols {
		w.str(fmt.Sprintf("c%d", c))
		w.str("String")
		w.b = append(w.b, make([]byte, rows)...)
	}
	return w.b
}

// endlessNative says Hello and answers every query with packet, repeated
// until the client hangs up.
func endlessNative(packet []byte) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 64<<10)
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write(helloPacket()); err != nil {
			return
		}
		var q []byte
		for !bytes.HasSuffix(q, queryEnd) {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			q = append(q, buf[:n]...)
		}
		go io.Copy(io.Discard, c)
		for {
			if _, err := c.Write(packet); err != nil {
				return
			}
		}
	}
}

// endlessHTTP answers every request with line and a newline, repeated until
// the client hangs up.
func endlessHTTP(t *testing.T, line []byte) datastore.Endpoint {
	chunk := bytes.Repeat(append(line, '\n'), max(1, (64<<10)/(len(line)+1)))
	srv := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	return datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
}
