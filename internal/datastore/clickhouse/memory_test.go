package clickhouse

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// heldCap is the most a session's hostile exchange may make us allocate in
// all: its memory budget, and as much again for what decoding drops.
const heldCap = 2 * datastore.SessionMemory

// openSession opens a session on svc, failing the test if it cannot.
func openSession(t *testing.T, svc *datastore.Service) datastore.Session {
	t.Helper()
	sess, err := Driver{}.Open(context.Background(), svc, 5*time.Second)
	if err != nil {
		t.Fatalf("Open(%s) = %v", svc.Endpoint, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// A byte on the wire can cost thirty held: a server that answers with
// cells instead of bytes (empty strings, empty fields) must hit the
// session's memory budget, named in the error, not our memory.
func TestInventoryCellsOverMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  func(t *testing.T) *datastore.Service
	}{
		{"native blocks of 4096 empty strings × 512 rows", func(t *testing.T) *datastore.Service {
			return nativeService(startFake(t, endlessNative(wideEmptyBlock())).endpoint())
		}},
		{"native blocks of 64 empty strings × 32768 rows", func(t *testing.T) *datastore.Service {
			w := blockHeader(64, 32768)
			for c := range 64 {
				w.str(fmt.Sprintf("c%d", c))
				w.str("String")
				w.b = append(w.b, make([]byte, 32768)...)
			}
			return nativeService(startFake(t, endlessNative(w.b)).endpoint())
		}},
		{"native blocks of 64 empty strings × 4096 rows, each within the budget", func(t *testing.T) *datastore.Service {
			w := blockHeader(64, 4096)
			for c := range 64 {
				w.str(fmt.Sprintf("c%d", c))
				w.str("String")
				w.b = append(w.b, make([]byte, 4096)...)
			}
			return nativeService(startFake(t, endlessNative(w.b)).endpoint())
		}},
		{"HTTP lines of 4095 tabs", func(t *testing.T) *datastore.Service {
			return httpService(endlessHTTP(t, bytes.Repeat([]byte("\t"), 4095)))
		}},
		{"HTTP lines of 63 tabs", func(t *testing.T) *datastore.Service {
			return httpService(endlessHTTP(t, bytes.Repeat([]byte("\t"), 63)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc(t)
			sess := openSession(t, svc)
			var err error
			n := allocated(func() {
				within(t, "Inventory", func() { _, err = sess.Inventory(context.Background()) })
			})
			if n > heldCap {
				t.Errorf("Inventory(%s) answered with %s allocated %d MB, want at most %d MB", svc.Endpoint, tc.name, n>>20, heldCap>>20)
			}
			t.Logf("Inventory(%s) = %v", svc.Endpoint, err)
			if err == nil || !strings.Contains(err.Error(), svc.Endpoint.String()) || !strings.Contains(err.Error(), "64 MiB") {
				t.Errorf("Inventory(%s) answered with %s = %v, want an error naming the server and its 64 MiB budget", svc.Endpoint, tc.name, err)
			}
		})
	}
}

// Each answer of an inventory fits the budget alone; together they do
// not. Everything a session holds at once is one budget.
func TestInventoryAnswersShareOneBudget(t *testing.T) {
	// 8 columns of 64-byte strings: 520 bytes a row sent, 664 held; a
	// 32 MB answer holds about 41 MB.
	const cols, rows = 8, 4096
	w := blockHeader(cols, rows)
	val := strings.Repeat("v", 64)
	for c := range cols {
		w.str(fmt.Sprintf("c%d", c))
		w.str("String")
		for range rows {
			w.str(val)
		}
	}
	svc := nativeService(startFake(t, endlessNative(w.b)).endpoint())
	sess := openSession(t, svc)
	var err error
	within(t, "Inventory", func() { _, err = sess.Inventory(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "64 MiB") {
		t.Errorf("Inventory(%s) with answers of 41 MB held each = %v, want an error naming the 64 MiB budget", svc.Endpoint, err)
	}
}

// Rows a Sample returned are given back to the budget by the next one: a
// session samples a thousand tables as easily as one.
func TestSampleGivesBackRows(t *testing.T) {
	// Every query gets the same answer: one row of 8 columns, ~1 MB held.
	val := strings.Repeat("x", 128<<10)
	reply := stringBlock([]string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"}, []string{val, val, val, val, val, val, val, val})
	svc := nativeService(startFake(t, sessionServer(func([]byte) []byte { return reply })).endpoint())
	sess := openSession(t, svc)
	tab := datastore.Table{Database: "d", Name: "t", Engine: "MergeTree", Rows: 1, RowsExact: true}
	for c := range 8 {
		tab.Columns = append(tab.Columns, datastore.Column{Name: fmt.Sprintf("c%d", c), Type: "String"})
	}
	for i := range 100 {
		rows, err := sess.Sample(context.Background(), tab, datastore.Limits{Rows: 1, Bytes: queryByteCap, Random: 1})
		if err != nil || len(rows.Values) != 1 {
			t.Fatalf("Sample %d of %s = %d rows, %v, want 1 row: each Sample's rows are given back by the next", i+1, svc.Endpoint, len(rows.Values), err)
		}
	}
}

// A block whose header alone asks for more than the budget has left is
// refused before anything of it is allocated.
func TestReadBlockRefusedBeforeAllocation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nc, nr uint64
	}{
		{"4096 columns × 512 rows", 4096, 512},
		{"1 column × 2^20 rows", 1, maxBlockRows},
		{"2^31 columns × 2^31 rows", 1 << 31, 1 << 31},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newWireReader(blockHeader(tc.nc, tc.nr).b[1:]) // the header, and not one value after it
			r.mem = newMemBudget("127.0.0.1:9000", 1<<20)
			var err error
			n := allocated(func() { _, err = readBlock(r) })
			if err == nil || strings.Contains(err.Error(), "EOF") {
				t.Errorf("readBlock(header of %s) with 1 MiB left = %v, want it refused at the header", tc.name, err)
			}
			if n > 64<<10 {
				t.Errorf("readBlock(header of %s) with 1 MiB left allocated %d KB, want nothing of the block", tc.name, n>>10)
			}
		})
	}
}

// Lines longer than the read buffer are assembled whole, within the budget.
func TestParseTSVLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	body := []byte("a\t" + long + "\nb\tc\n" + long)
	res, err := parseTSV(body, false)
	if err != nil || len(res.rows) != 3 || res.rows[0][1] != long || res.rows[1][1] != "c" || res.rows[2][0] != long {
		t.Fatalf("parseTSV(lines of %d bytes) = %d rows, %v, want 3 rows, the long values whole", len(long), len(res.rows), err)
	}
	res, err = parseTSV(body, true)
	if err != nil || len(res.rows) != 2 || !res.truncated {
		t.Errorf("parseTSV(lines of %d bytes, truncated) = %d rows, %v, want 2 rows, truncated", len(long), len(res.rows), err)
	}
	r := bytes.NewReader(body)
	if _, err := readTSV(r, int64(len(body)), newMemBudget("127.0.0.1:8123", 100<<10), ""); err == nil || !strings.Contains(err.Error(), "127.0.0.1:8123") {
		t.Errorf("readTSV(lines of %d bytes) with a budget of 100 KiB = %v, want an error naming the server", len(long), err)
	}
}
