package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/datastore"
)

// Hostile peers for what a session asks and believes: limits the peer
// ignores, answers that say nothing, numbers that overflow. Each case is a
// function of a *testing.T so that a harness (peak RSS, CI) can call it
// alone; TestHostileSession runs them all.

// sessionCases lists every case of this file.
var sessionCases = []struct {
	name string
	run  func(t *testing.T)
}{
	{"peer ignores LIMIT in the inventory", caseInventoryIgnoresLimit},
	{"peer ignores LIMIT in the random sample", caseRandomSampleIgnoresLimit},
	{"peer floods the search with rows of one key", caseSearchFlood},
	{"session samples at most maxSampledTables tables", caseSampleTableCap},
	{"budget runs out while counting rows", caseBudgetRunsOutCounting},
	{"count() carries max_rows_to_read", caseCountCarriesRowLimit},
	{"readonly=1 profile, endless search answer", caseReadonlyProfileEndlessSearch},
	{"readonly=1 profile, search never answered", caseReadonlyProfileSearchTarpit},
	{"privileges from empty answers (native)", casePrivilegesEmptyNative},
	{"privileges from a cut-short answer (native)", casePrivilegesCutShortNative},
	{"privileges from empty answers (HTTP)", casePrivilegesEmptyHTTP},
	{"row counts past int64", caseRowCountsPastInt64},
}

// Every case also runs in the hostile-peer suite, in a process of its own,
// so that its peak RSS is printed and held to the suite's bound.
func init() {
	for _, c := range sessionCases {
		hostileCases["session: "+c.name] = hostileCase{budget: 30 * time.Second, run: func(t *testing.T, _ time.Duration) { c.run(t) }}
	}
}

func TestHostileSession(t *testing.T) {
	for _, c := range sessionCases {
		t.Run(c.name, c.run)
	}
}

// nativeSession opens a session on a native peer answering each query with
// answer(query packet).
func nativeSession(t *testing.T, timeout time.Duration, answer func(q []byte) []byte) *session {
	t.Helper()
	srv := startFake(t, sessionServer(answer))
	svc := &datastore.Service{Endpoint: srv.endpoint(), Engine: "clickhouse", Protocol: "native", Auth: datastore.AuthNone, User: probeUser}
	sess, err := Driver{}.Open(context.Background(), svc, timeout)
	if err != nil {
		t.Fatalf("Open(%s) = %v", svc.Endpoint, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess.(*session)
}

func has(q []byte, s string) bool { return bytes.Contains(q, []byte(s)) }

// empty is an answer of no rows.
func empty() []byte { return endOfStream() }

// oneColumn returns rows of one value each.
func oneColumn(values ...string) [][]string {
	out := make([][]string, len(values))
	for i, v := range values {
		out[i] = []string{v}
	}
	return out
}

// names returns n names made of prefix and a number.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return out
}

// limitIgnorer answers the inventory of a server with 100,000 databases
// and 30,000 Log tables, whatever LIMIT the query says, and counts the
// count() queries on user tables.
type limitIgnorer struct {
	counts  atomic.Int64
	onCount func(n int64) // told of each count() query, if set
}

func (l *limitIgnorer) answer(q []byte) []byte {
	const dbs, tables = 100000, 30000
	switch {
	case has(q, "count()) FROM system.databases"):
		return stringBlock([]string{"c"}, []string{fmt.Sprint(dbs)})
	case has(q, "count()) FROM system.tables"):
		return stringBlock([]string{"c"}, []string{fmt.Sprint(tables)})
	case has(q, "FROM system.databases"):
		rows := make([][]string, dbs)
		for i, n := range names("db", dbs) {
			rows[i] = []string{n, "Atomic"}
		}
		return stringBlock([]string{"name", "engine"}, rows...)
	case has(q, "table = 'tables'"):
		return stringBlock([]string{"name"}, oneColumn("database", "name", "engine")...)
	case has(q, "FROM system.tables"):
		rows := make([][]string, tables)
		for i, n := range names("t", tables) {
			rows[i] = []string{"db000000", n, "Log", "", ""}
		}
		return stringBlock([]string{"database", "name", "engine", "rows", "bytes"}, rows...)
	case has(q, "FROM system.parts"):
		return empty()
	case has(q, "FROM system.columns"):
		rows := make([][]string, tables)
		for i, n := range names("t", tables) {
			rows[i] = []string{"db000000", n, "note", "String"}
		}
		return stringBlock([]string{"database", "table", "name", "type"}, rows...)
	case has(q, "count()) FROM `db"):
		if n := l.counts.Add(1); l.onCount != nil {
			l.onCount(n)
		}
		return stringBlock([]string{"c"}, []string{"5"})
	}
	return empty()
}

func reasonsHave(t *testing.T, what string, reasons []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, w) }) {
			t.Errorf("%s: truncation %q does not say %q", what, reasons, w)
		}
	}
}

// A peer ignoring LIMIT once got 78,864 count() queries in two minutes,
// and the listing was cut with no word of it.
func caseInventoryIgnoresLimit(t *testing.T) {
	l := &limitIgnorer{}
	s := nativeSession(t, 5*time.Second, l.answer)
	var inv datastore.Inventory
	var err error
	within(t, "Inventory", func() { inv, err = s.Inventory(context.Background()) })
	if err != nil {
		t.Fatalf("Inventory on a peer ignoring LIMIT = %v", err)
	}
	if n := l.counts.Load(); n > maxCountQueries {
		t.Errorf("Inventory ran %d count() queries, want at most %d", n, maxCountQueries)
	}
	if len(inv.Databases) > maxListedDatabases {
		t.Errorf("Inventory kept %d databases, want at most %d", len(inv.Databases), maxListedDatabases)
	}
	tables := 0
	for _, db := range inv.Databases {
		tables += len(db.Tables)
	}
	if tables > maxListedTables {
		t.Errorf("Inventory kept %d tables, want at most %d", tables, maxListedTables)
	}
	if !inv.Truncated {
		t.Errorf("Inventory of a cut listing has truncated = false")
	}
	reasonsHave(t, "Inventory", inv.Truncation,
		"databases listed: the first 10000 of 100000",
		"tables listed for the first 1000 of 10000 databases",
		"tables listed: the first 20000 of 30000",
		"at most 200 count() queries")
}

// randomServer answers the random sample's query with 10,000 rows.
func caseRandomSampleIgnoresLimit(t *testing.T) {
	s := nativeSession(t, 5*time.Second, func(q []byte) []byte {
		if has(q, "rand()") {
			rows := make([][]string, 10000)
			for i := range rows {
				rows[i] = []string{"x"}
			}
			return stringBlock([]string{"c"}, rows...)
		}
		return empty()
	})
	tbl := datastore.Table{Database: "d", Name: "t", Engine: "Log", Rows: 10, RowsExact: true, Columns: []datastore.Column{{Name: "note", Type: "String"}}}
	rows, err := s.Sample(context.Background(), tbl, datastore.Limits{Random: 5, Bytes: 1 << 20})
	if err != nil {
		t.Fatalf("Sample = %v", err)
	}
	if len(rows.Values) != 5 || rows.ReadRows != 5 {
		t.Errorf("Sample(Random 5) on a peer sending 10000 rows kept %d rows (ReadRows %d), want 5", len(rows.Values), rows.ReadRows)
	}
	reasonsHave(t, "Sample", rows.Truncation, "sent 10000 rows for LIMIT 5")
}

// The search keeps perKey rows a key; a peer sending thousands, or keys not
// asked for, has them dropped.
func caseSearchFlood(t *testing.T) {
	s := nativeSession(t, 5*time.Second, func(q []byte) []byte {
		if has(q, "leakhound_k") {
			rows := make([][]string, 0, 5001)
			for i := range 5000 {
				rows = append(rows, []string{"secret", "5000", fmt.Sprint("a secret here ", i)})
			}
			rows = append(rows, []string{"not-asked", "1", "x"})
			return stringBlock([]string{"k", "n", "c"}, rows...)
		}
		return empty()
	})
	tbl := datastore.Table{Database: "d", Name: "t", Engine: "Log", Rows: 10, RowsExact: true, Columns: []datastore.Column{{Name: "note", Type: "String"}}}
	rows, err := s.Sample(context.Background(), tbl, datastore.Limits{Rows: 3, Keywords: []string{"secret"}, Bytes: 1 << 20})
	if err != nil {
		t.Fatalf("Sample = %v", err)
	}
	if rows.ReadRows > 3 || rows.Counts["not-asked"] != 0 {
		t.Errorf("Sample(3 rows a key) on a flood kept %d rows, counts %v; want at most 3, no key not asked for", rows.ReadRows, rows.Counts)
	}
	reasonsHave(t, "Sample", rows.Truncation, "rows the query did not ask for were dropped")
}

// A session samples at most maxSampledTables tables: a server of a million
// tables costs a bounded number of queries.
func caseSampleTableCap(t *testing.T) {
	var queries atomic.Int64
	s := nativeSession(t, 5*time.Second, func(q []byte) []byte {
		queries.Add(1)
		return empty()
	})
	lim := datastore.Limits{Rows: 3, Random: 5, Keywords: []string{"secret"}, Bytes: 1 << 20}
	var err error
	n := 0
	for ; n < maxSampledTables+10; n++ {
		tbl := datastore.Table{Database: "d", Name: fmt.Sprint("t", n), Engine: "Log", Rows: 10, RowsExact: true, Columns: []datastore.Column{{Name: "note", Type: "String"}}}
		if _, err = s.Sample(context.Background(), tbl, lim); err != nil {
			break
		}
	}
	if n != maxSampledTables || !errors.Is(err, datastore.ErrSessionCap) {
		t.Errorf("Sample stopped after %d tables with %v, want %d tables then %v", n, err, maxSampledTables, datastore.ErrSessionCap)
	}
	before := queries.Load()
	s.Sample(context.Background(), datastore.Table{Database: "d", Name: "more", Engine: "Log", Rows: 10, RowsExact: true, Columns: []datastore.Column{{Name: "note", Type: "String"}}}, lim)
	if q := queries.Load(); q != before {
		t.Errorf("Sample past the cap sent %d queries, want none", q-before)
	}
}

// A budget that runs out while row counts are taken ends the counting and
// says so; the inventory itself is kept. The peer ends the budget itself
// after five counts, so that the case does not hang on timing.
func caseBudgetRunsOutCounting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &limitIgnorer{onCount: func(n int64) {
		if n == 5 {
			cancel()
		}
	}}
	s := nativeSession(t, 5*time.Second, l.answer)
	var inv datastore.Inventory
	var err error
	within(t, "Inventory", func() { inv, err = s.Inventory(ctx) })
	if err != nil {
		t.Fatalf("Inventory with a budget that runs out while counting = %v, want the inventory", err)
	}
	if n := l.counts.Load(); n > 6 {
		t.Errorf("Inventory ran %d count() queries after the budget ran out at the 5th, want none", n-5)
	}
	reasonsHave(t, "Inventory", inv.Truncation, "the time budget ran out after counting the rows of")
}

// The count() of a Log or Memory table carries max_rows_to_read, as the
// README says, and a count cut short is never taken for the table's.
func caseCountCarriesRowLimit(t *testing.T) {
	var got atomic.Value
	s := nativeSession(t, 5*time.Second, func(q []byte) []byte {
		if has(q, "count()) FROM `d`") {
			got.Store(append([]byte(nil), q...))
			return stringBlock([]string{"c"}, []string{"7"})
		}
		return empty()
	})
	inv := datastore.Inventory{}
	tbl := &datastore.Table{Database: "d", Name: "t", Engine: "Log", Rows: -1}
	s.countRows(context.Background(), &inv, []*datastore.Table{tbl})
	q, _ := got.Load().([]byte)
	if !has(q, "max_rows_to_read") || !has(q, "read_overflow_mode") {
		t.Errorf("count() query %q carries no max_rows_to_read with read_overflow_mode", printable(q, 300))
	}
	if i := bytes.Index(q, []byte("read_overflow_mode")); i >= 0 && !bytes.Contains(q[i:min(i+32, len(q))], []byte("throw")) {
		t.Errorf("count() query %q may break early: a count cut short would pass for the table's", printable(q, 300))
	}
	if tbl.Rows != 7 || !tbl.RowsExact {
		t.Errorf("count() = %d (exact %v), want 7", tbl.Rows, tbl.RowsExact)
	}
}

// readonlyProfile answers like a server whose profile is readonly=1: any
// query carrying a setting other than readonly is refused with code 164.
func readonlyProfile(then func(q []byte) []byte) func(q []byte) []byte {
	var refusal wireWriter
	refusal.uvarint(serverException)
	refusal.i32(164)
	refusal.str("DB::Exception")
	refusal.str("DB::Exception: Cannot modify 'max_execution_time' setting in readonly mode")
	refusal.str("")
	refusal.u8(0)
	return func(q []byte) []byte {
		if has(q, "max_execution_time") {
			return refusal.b
		}
		return then(q)
	}
}

// With a readonly=1 profile no query carries server-side limits: a search
// answered without end costs at most the read budget, and rows not asked
// for are dropped.
func caseReadonlyProfileEndlessSearch(t *testing.T) {
	const budget = 1 << 20
	srv := startFake(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 64<<10)
		if _, err := c.Read(buf); err != nil {
			return
		}
		c.Write(helloPacket())
		answer := readonlyProfile(func([]byte) []byte { return empty() })
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
			if has(q, "leakhound_k") && !has(q, "max_execution_time") {
				go io.Copy(io.Discard, c)
				one := stringBlock([]string{"k", "n", "c"}, []string{"secret", "1", strings.Repeat("v", 1000)})
				one = one[:len(one)-1] // no end of stream: rows for ever
				for {
					if _, err := c.Write(one); err != nil {
						return
					}
				}
			}
			if _, err := c.Write(answer(q)); err != nil {
				return
			}
			q = q[:0]
		}
	})
	svc := &datastore.Service{Endpoint: srv.endpoint(), Engine: "clickhouse", Protocol: "native", Auth: datastore.AuthNone, User: probeUser}
	sess, err := Driver{}.Open(context.Background(), svc, 5*time.Second)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer sess.Close()
	tbl := datastore.Table{Database: "d", Name: "t", Engine: "Log", Rows: 100, RowsExact: true, Columns: []datastore.Column{{Name: "note", Type: "String"}}}
	var rows datastore.Rows
	n := allocated(func() {
		within(t, "Sample", func() {
			rows, err = sess.Sample(context.Background(), tbl, datastore.Limits{Rows: 3, Keywords: []string{"secret"}, Bytes: budget})
		})
	})
	if sess.(*session).limitsOK {
		t.Fatalf("the session still sends limits to a readonly=1 profile")
	}
	if err != nil {
		t.Fatalf("Sample on an endless answer = %v, want the rows up to the budget", err)
	}
	if rows.ReadRows > 3 || rows.ReadBytes > 2*budget {
		t.Errorf("Sample kept %d rows and read %d bytes, want at most 3 rows and about %d bytes", rows.ReadRows, rows.ReadBytes, budget)
	}
	if n > allocCap {
		t.Errorf("Sample on an endless answer allocated %d MB, want at most %d MB", n>>20, allocCap>>20)
	}
	reasonsHave(t, "Sample", rows.Truncation, "answer cut at the read budget")
}

// With a readonly=1 profile a search the server never answers costs the
// query's timeout, and the table's sample ends there.
func caseReadonlyProfileSearchTarpit(t *testing.T) {
	const timeout = 500 * time.Millisecond
	release := make(chan struct{})
	s := nativeSession(t, timeout, readonlyProfile(func(q []byte) []byte {
		if has(q, "leakhound_k") {
			<-release
		}
		return empty()
	}))
	t.Cleanup(func() { close(release) }) // before the server's own cleanup waits for it
	tbl := datastore.Table{Database: "d", Name: "t", Engine: "Log", Rows: 100, RowsExact: true, Columns: []datastore.Column{{Name: "note", Type: "String"}}}
	start := time.Now()
	var err error
	within(t, "Sample", func() {
		_, err = s.Sample(context.Background(), tbl, datastore.Limits{Rows: 3, Random: 5, Keywords: []string{"secret"}, Patterns: []string{"[0-9]{16}"}, Bytes: 1 << 20})
	})
	if took := time.Since(start); took > 6*timeout {
		t.Errorf("Sample on a search never answered took %v, want about its timeout %v", took, timeout)
	}
	if !isTimeout(err) {
		t.Errorf("Sample on a search never answered = %v, want a timeout", err)
	}
}

// privilegesOf judges the privileges on a session and assesses them.
func privilegesOf(t *testing.T, sess datastore.Session, svc *datastore.Service) (datastore.Privileges, *assess.Finding) {
	t.Helper()
	var p datastore.Privileges
	var err error
	within(t, "Privileges", func() { p, err = sess.Privileges(context.Background()) })
	if err != nil {
		t.Fatalf("Privileges = %v", err)
	}
	f := &assess.Finding{Privileges: &p, Inventory: &datastore.Inventory{}}
	assess.Assess(f, svc, nil)
	return p, f
}

// granted is the verdict of p's capability id, Unknown if p has none such.
func granted(p datastore.Privileges, id string) datastore.Verdict {
	for _, c := range p.Capabilities {
		if c.ID == id {
			return c.Granted
		}
	}
	return datastore.Unknown
}

// wantUnknownWrites checks what a user would see of privileges judged
// from answers that say nothing: writes unknown and said so, no severity
// raised for a capability not proven.
func wantUnknownWrites(t *testing.T, p datastore.Privileges, f *assess.Finding) {
	t.Helper()
	if p.Readonly != datastore.Unknown || granted(p, "ddl") != datastore.Unknown {
		t.Errorf("Privileges from empty answers = readonly %s, ddl %s (evidence %q), want unknown, unknown", p.Readonly, granted(p, "ddl"), p.Evidence)
	}
	if granted(p, "file") == datastore.Yes || granted(p, "table_functions") == datastore.Yes {
		t.Errorf("Privileges from empty answers = file() %s, table functions %s, want neither granted", granted(p, "file"), granted(p, "table_functions"))
	}
	if f.Severity != assess.Medium {
		t.Errorf("Assess(privileges from empty answers) = %s, reasons %q, want medium (no capability proven)", f.Severity, f.Reasons)
	}
	reasonsHave(t, "Assess reasons", f.Reasons, "could not tell whether "+summaryDDL+": ")
	if len(p.Evidence) == 0 {
		t.Errorf("Privileges from empty answers carry no evidence")
	}
}

func casePrivilegesEmptyNative(t *testing.T) {
	s := nativeSession(t, 5*time.Second, func([]byte) []byte { return empty() })
	p, f := privilegesOf(t, s, s.svc)
	wantUnknownWrites(t, p, f)
}

// The settings answer promises two rows and the peer hangs up.
func casePrivilegesCutShortNative(t *testing.T) {
	s := nativeSession(t, time.Second, func(q []byte) []byte {
		if has(q, "allow_ddl") {
			w := blockHeader(2, 2)
			w.str("name")
			w.str("String")
			w.str("readonly")
			return w.b
		}
		return empty()
	})
	p, f := privilegesOf(t, s, s.svc)
	wantUnknownWrites(t, p, f)
}

func casePrivilegesEmptyHTTP(t *testing.T) {
	srv := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ep := datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
	svc := &datastore.Service{Endpoint: ep, Engine: "clickhouse", Protocol: "http", Auth: datastore.AuthNone, User: probeUser}
	sess, err := Driver{}.Open(context.Background(), svc, 5*time.Second)
	if err != nil {
		t.Fatalf("Open(%s) = %v", ep, err)
	}
	defer sess.Close()
	p, f := privilegesOf(t, sess, svc)
	wantUnknownWrites(t, p, f)
}

// Row counts past int64 (system.tables' total_rows is a UInt64) are kept
// as the largest int64, never as -1 or a wrapped negative.
func caseRowCountsPastInt64(t *testing.T) {
	s := nativeSession(t, 5*time.Second, func(q []byte) []byte {
		switch {
		case has(q, "FROM system.databases"):
			return stringBlock([]string{"name", "engine"}, []string{"default", "Atomic"})
		case has(q, "table = 'tables'"):
			return stringBlock([]string{"name"}, oneColumn("total_rows")...)
		case has(q, "FROM system.tables"):
			return stringBlock([]string{"database", "name", "engine", "rows", "bytes"},
				[]string{"default", "a", "MergeTree", "18446744073709551615", "18446744073709551615"},
				[]string{"default", "b", "MergeTree", "9223372036854775807", "1"})
		}
		return empty()
	})
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatalf("Inventory = %v", err)
	}
	for _, tb := range inv.Databases[0].Tables {
		if tb.Rows != math.MaxInt64 || !tb.RowsExact {
			t.Errorf("table %s rows = %d (exact %v), want %d", tb.Name, tb.Rows, tb.RowsExact, int64(math.MaxInt64))
		}
	}
	f := &assess.Finding{Privileges: &datastore.Privileges{Readonly: datastore.Yes}, Inventory: &inv}
	assess.Assess(f, s.svc, nil)
	if !slices.ContainsFunc(f.Reasons, regexp.MustCompile(`^2 user tables readable, 9223372036854775807 rows$`).MatchString) {
		t.Errorf("Assess(two tables of 2^63-1 rows and more) reasons = %q, want the total saturated", f.Reasons)
	}
}
