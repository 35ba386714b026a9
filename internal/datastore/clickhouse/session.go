package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// conn is a transport that runs one read-only query and returns its rows
// as text: the HTTP and native interfaces both implement it.
type conn interface {
	query(ctx context.Context, sql string, settings []setting, maxBytes int64) (*result, error)
	close() error
}

type result struct {
	rows      [][]string
	bytes     int64
	truncated bool
	held      int64 // what rows cost in memory, charged to the session's budget
}

// add appends a block's rows, which share the block's cells (charged as
// the block was read). It fails with errReadBudget, keeping no more, once
// the result holds queryRowCap rows. The cap is enforced here, not only
// asked of the server: a hostile peer's one-byte values would otherwise
// cost tens of bytes of memory each.
func (r *result) add(b *block) error {
	n := min(b.rows, queryRowCap-len(r.rows))
	r.rows = slices.Grow(r.rows, n)
	for i := range n {
		r.rows = append(r.rows, b.row(i))
	}
	if n < b.rows {
		r.truncated = true
		return errReadBudget
	}
	return nil
}

// Bounds on every query a session runs; a Sample's own Limits narrow them.
const (
	queryRowCap      = 100000
	queryByteCap     = 32 << 20
	valueByteCap     = 8192     // bytes of one value read back
	countRowsCap     = 50000000 // rows the server may scan to count candidates
	maxListedTables  = 20000
	maxListedColumns = 200000
)

// trace prints every query with its time and size to standard error
// (LEAKHOUND_TRACE=1). Queries hold identifiers and keywords, never values.
var trace = os.Getenv("LEAKHOUND_TRACE") == "1"

type session struct {
	svc *datastore.Service
	// mem is what the session holds of its server's answers, shared by
	// every query on every connection of the session (see memory.go).
	mem      *memBudget
	invHeld  int64 // of mem, what the inventory returned holds
	rowsHeld int64 // of mem, what the last Sample returned holds
	open     func(context.Context) (conn, error)
	c        conn
	native   bool
	timeout  time.Duration
	limitsOK bool // the server lets us set limits (a readonly=1 profile does not)
	// profileReadonly: the server refused our readonly=1 because the
	// profile is read-only already; it is not sent again.
	profileReadonly bool
	countQueries    int // count() queries run, against maxCountQueries
	sampledTables   int // tables sampled, against maxSampledTables
}

var _ datastore.Session = (*session)(nil)

func (s *session) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.close()
}

// q runs one query with the session's limits. Native queries always carry
// readonly=1 unless extra sets readonly itself. A server whose profile
// forbids setting anything (readonly=1) is asked again without limits: the
// client-side deadline and byte cap still hold.
func (s *session) q(ctx context.Context, sql string, extra []setting, maxBytes int64) (*result, error) {
	timeout := s.timeout
	var settings []setting
	if s.limitsOK {
		settings = append(settings,
			setting{"max_execution_time", executionSeconds(timeout)},
			setting{"max_result_rows", strconv.Itoa(queryRowCap)},
			setting{"max_result_bytes", strconv.Itoa(queryByteCap)},
			setting{"result_overflow_mode", "break"},
		)
		settings = append(settings, extra...)
	}
	ownReadonly := s.native && !s.profileReadonly && !slices.ContainsFunc(extra, func(x setting) bool { return x.name == "readonly" })
	if ownReadonly {
		settings = append(settings, setting{"readonly", "1"})
	}
	if s.native && !s.limitsOK {
		for _, x := range extra {
			if x.name == "readonly" {
				settings = append(settings, x)
			}
		}
	}
	if s.c == nil {
		c, err := s.open(ctx)
		if err != nil {
			return nil, err
		}
		s.c = c
	}
	start := time.Now()
	res, err := s.c.query(ctx, sql, settings, maxBytes)
	if trace {
		n := int64(0)
		if res != nil {
			n = res.bytes
		}
		fmt.Fprintf(os.Stderr, "trace: %s %s %6dms %8dB err=%v  %s\n", s.svc.Endpoint, s.svc.Protocol, time.Since(start).Milliseconds(), n, err != nil, printable([]byte(sql), 160))
	}
	if errors.Is(err, errMemoryBudget) {
		// What the query held, up to the whole budget, is garbage now; only
		// a hostile server gets here, and collecting it at once keeps the
		// next query's answer from stacking on it (peak RSS halves).
		runtime.GC()
	}
	if n, ok := s.c.(*nativeConn); ok && n.broken {
		n.close()
		s.c = nil
	}
	var se *ServerError
	if ownReadonly && errors.As(err, &se) && se.Code == 164 && strings.Contains(strings.ToLower(se.Message), "'readonly'") {
		// The profile is already read-only (a readonly=2 profile on a
		// server that enforces constraints refuses any change to it).
		s.profileReadonly = true
		return s.q(ctx, sql, extra, maxBytes)
	}
	if s.limitsOK && errors.As(err, &se) && refusesSettings(se) {
		s.limitsOK = false
		return s.q(ctx, sql, extra, maxBytes)
	}
	return res, err
}

// ServerID implements datastore.Session: the server's address, version and
// timezone, and its start time, which tells two servers on one address
// apart and is the same through HTTP and native (to a second or so).
func (s *session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	res, err := s.q(ctx, "SELECT version(), timezone(), toString(toUInt32(now()) - uptime())", nil, 4096)
	if err != nil {
		return datastore.ServerID{}, err
	}
	if len(res.rows) != 1 || len(res.rows[0]) != 3 {
		return datastore.ServerID{}, errors.New("no answer to the server identity query")
	}
	r := res.rows[0]
	started, err := strconv.ParseInt(r[2], 10, 64)
	if err != nil {
		return datastore.ServerID{}, fmt.Errorf("the server identity query answered a start time of %q", printable([]byte(r[2]), 40))
	}
	return datastore.ServerID{
		Engine:  "clickhouse",
		Key:     s.svc.Endpoint.IP.String() + "|" + r[0] + "|" + r[1],
		Started: time.Unix(started, 0),
	}, nil
}

// Pushdown implements datastore.Session: keyword and RE2 filters, counted
// by the server over the whole table, and rows by distinct value
// (extractAll, GROUP BY; see distinct).
func (s *session) Pushdown() datastore.Pushdown {
	return datastore.Pushdown{Substring: true, Regex: datastore.DialectRE2, Counts: true, Distinct: true}
}

// Privileges implements datastore.Session. Nothing is changed: the
// readonly level is read from settings and from which setting changes the
// server accepts; table functions are tried on a file that cannot exist.
// What the answers do not settle stays Unknown, with the reason: an empty
// or cut-short answer is never read as a capability granted.
func (s *session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	j := judgement{level: -1, unjudged: map[string]string{}}
	set := map[string]string{}
	res, err := s.complete(ctx, "SELECT name, toString(value) FROM system.settings WHERE name IN ('readonly', 'allow_ddl')", nil)
	if err != nil {
		j.evidence = append(j.evidence, "reading settings failed: "+err.Error())
	} else {
		for _, r := range res.rows {
			if len(r) == 2 {
				set[r[0]] = r[1]
			}
		}
	}
	if s.native {
		j.level = s.nativeReadonlyLevel(ctx)
		if j.level < 0 {
			j.unjudge("readonly", "the server's answers to readonly=1 and readonly=2 did not tell the profile's level")
		}
	} else {
		// HTTP GET makes an unrestricted user readonly=2, so 2 means "0 or
		// 2"; 1 is the profile's own.
		switch set["readonly"] {
		case "1":
			j.level = 1
		case "0", "2":
			j.unjudge("readonly", "HTTP GET cannot tell readonly 0 from 2")
		default:
			j.unjudge("readonly", settingsWhy(err, "readonly"))
		}
	}
	switch {
	case j.level >= 1:
		j.readonly, j.ddl = datastore.Yes, datastore.No
	case j.level == 0 && (set["allow_ddl"] == "0" || set["allow_ddl"] == "1"):
		j.readonly, j.ddl = datastore.No, datastore.VerdictOf(set["allow_ddl"] == "1")
	case j.level == 0:
		j.readonly = datastore.No
		j.unjudge("ddl", settingsWhy(err, "allow_ddl"))
	default:
		j.unjudge("ddl", j.unjudged["readonly"])
	}
	if j.level >= 0 {
		j.profile = fmt.Sprintf("profile readonly=%d, allow_ddl=%s", j.level, orUnknown(set["allow_ddl"]))
		j.evidence = append(j.evidence, j.profile)
	}

	// Table functions. readonly=2 still forbids every write; unlike 1 it
	// allows table functions, which is what is being judged.
	tf := []setting{{"readonly", "2"}}
	var se *ServerError
	switch res, err := s.complete(ctx, "SELECT count() FROM numbers(1)", tf); {
	case err == nil && oneValue(res) == "1":
		j.tableFunctions = datastore.Yes
	case err == nil:
		j.unjudge("table_functions", "the numbers() probe was answered without its one row")
	case errors.As(err, &se) && busyCode(se.Code):
		j.unjudge("table_functions", fmt.Sprintf("the numbers() probe was not answered (code %d: %s)", se.Code, se.Message))
	case errors.As(err, &se):
		j.tableFunctions = datastore.No
	default:
		j.unjudge("table_functions", "the numbers() probe got no answer: "+err.Error())
	}
	name := probeFileName()
	res, err = s.complete(ctx, fmt.Sprintf("SELECT count() FROM file(%s, 'TSV', 'x String')", quoteString(name)), tf)
	switch {
	case err == nil && oneValue(res) != "":
		j.file = datastore.Yes
		j.fileWhy = "file() ran on a name that cannot exist"
	case errors.As(err, &se) && fileUsableCode(se.Code):
		j.file = datastore.Yes
		j.fileWhy = fmt.Sprintf("file() reached the filesystem (code %d: %s)", se.Code, se.Message)
	case err == nil:
		j.unjudge("file_read", "the file() probe was answered without its one row")
	case errors.As(err, &se) && busyCode(se.Code):
		j.unjudge("file_read", fmt.Sprintf("the file() probe was not answered (code %d: %s)", se.Code, se.Message))
	case errors.As(err, &se):
		j.file = datastore.No
		j.fileWhy = fmt.Sprintf("file() refused (code %d)", se.Code)
	default:
		j.unjudge("file_read", "the file() probe got no answer: "+err.Error())
	}
	if j.fileWhy != "" {
		j.evidence = append(j.evidence, j.fileWhy)
	}
	// On servers with RBAC (20.x and later) the grants say what the user
	// may do better than the profile does.
	if g, ok := s.showGrants(ctx); ok {
		j.judgeGrants(g)
	}
	return j.privileges(), nil
}

// oneValue returns the only value of a one-row, one-column answer, or "".
func oneValue(res *result) string {
	if res == nil || len(res.rows) != 1 || len(res.rows[0]) != 1 {
		return ""
	}
	return res.rows[0][0]
}

// settingsWhy says why a setting could not be read.
func settingsWhy(err error, name string) string {
	if err != nil {
		return "reading settings failed: " + err.Error()
	}
	return "the settings answer holds no " + name
}

// busyCode lists server errors that say the server could not answer now,
// not that it refuses: they settle nothing.
func busyCode(code int) bool {
	switch code {
	case 159, // TIMEOUT_EXCEEDED
		202, // TOO_MANY_SIMULTANEOUS_QUERIES
		241, // MEMORY_LIMIT_EXCEEDED
		394: // QUERY_WAS_CANCELLED
		return true
	}
	return false
}

// nativeReadonlyLevel tells the profile's readonly level over the native
// protocol, where our own readonly=1 hides it. Asked to change readonly, a
// server keeps a restricted profile's level (18.x, silently) or refuses
// (later versions, code 164); an unrestricted profile takes the new value.
// Reading the level back under readonly=1 and under readonly=2 tells all
// three levels apart without ever lowering the level below 1.
func (s *session) nativeReadonlyLevel(ctx context.Context) int {
	read := func(level string) string {
		res, err := s.complete(ctx, "SELECT toString(value) FROM system.settings WHERE name = 'readonly'", []setting{{"readonly", level}})
		switch {
		case isReadonlyErr(err):
			return "refused"
		case err != nil:
			return "?"
		}
		return oneValue(res)
	}
	switch v1, v2 := read("1"), read("2"); {
	case v1 == "1" && v2 == "2":
		return 0
	case v1 == "1" && (v2 == "1" || v2 == "refused"):
		return 1
	case (v1 == "2" || v1 == "refused") && v2 == "2":
		return 2
	}
	return -1
}

// complete runs a small probe query whose answer is evidence: an answer cut
// short by a limit is an error, never a success.
func (s *session) complete(ctx context.Context, sql string, extra []setting) (*result, error) {
	res, err := s.q(ctx, sql, extra, 64<<10)
	if err == nil && res.truncated {
		return nil, errors.New("the answer was larger than a real server's")
	}
	return res, err
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// fileUsableCode lists errors that show file() got as far as the
// filesystem: the file is missing, or its path was checked against
// user_files_path. Refusals (readonly 164, ACCESS_DENIED 497, …) are not.
func fileUsableCode(code int) bool {
	switch code {
	case 107, // FILE_DOESNT_EXIST
		291, // DATABASE_ACCESS_DENIED: path outside user_files, still reads inside it
		636: // CANNOT_EXTRACT_TABLE_STRUCTURE: newer servers on an empty glob
		return true
	}
	return false
}

func isReadonlyErr(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Code == 164
}

// probeFileName is a relative name under a random directory: it cannot
// exist, so the probe can never read a real file.
func probeFileName() string {
	var b [12]byte
	rand.Read(b[:])
	return "leakhound-probe-" + hex.EncodeToString(b[:]) + "/absent.tsv"
}

// systemDatabases are summarised, not listed.
var systemDatabases = map[string]bool{"system": true, "INFORMATION_SCHEMA": true, "information_schema": true}

// Bounds on what an inventory keeps and on the per-table queries of a
// session. Each is enforced on our side too: a peer may ignore LIMIT.
const (
	maxListedDatabases      = 10000 // databases kept
	maxTableListedDatabases = 1000  // local databases whose tables are listed
	maxCountQueries         = 200   // count() queries on Log and Memory tables
	maxSampledTables        = 200   // tables sampled
)

// keep returns at most n of rows, and whether any were cut.
func keep(rows [][]string, n int) ([][]string, bool) {
	if len(rows) > n {
		return rows[:n], true
	}
	return rows, false
}

// inventory lists databases, tables and columns (Inventory wraps it, for
// the memory budget). What a limit cut short is named in the inventory's
// Truncation; a time budget that runs out while counting
// rows ends the counting, not the inventory.
func (s *session) inventory(ctx context.Context) (datastore.Inventory, error) {
	var inv datastore.Inventory
	dbs, err := s.q(ctx, fmt.Sprintf("SELECT name, engine FROM system.databases LIMIT %d", maxListedDatabases+1), nil, queryByteCap)
	if err != nil {
		return inv, fmt.Errorf("listing databases: %w", err)
	}
	dbRows, cut := keep(dbs.rows, maxListedDatabases)
	if cut || dbs.truncated {
		inv.Truncate(fmt.Sprintf("databases listed: the first %d of %s", len(dbRows), s.total(ctx, "system.databases", "", len(dbRows))))
	}
	// Tables are listed only in databases whose data is on this server:
	// listing a MySQL, PostgreSQL, SQLite or S3 database, or loading a
	// Dictionary database, makes the server reach out.
	var local []string
	nlocal := 0
	for _, r := range dbRows {
		if len(r) == 2 && localDatabaseEngine(r[1]) {
			if nlocal++; len(local) < maxTableListedDatabases {
				local = append(local, quoteString(r[0]))
			}
		}
	}
	if nlocal > len(local) {
		inv.Truncate(fmt.Sprintf("tables listed for the first %d of %d databases", len(local), nlocal))
	}
	if len(local) == 0 {
		local = append(local, "''")
	}
	inLocal := "database IN (" + strings.Join(local, ", ") + ")"
	// Newer servers know row and byte counts of every table cheaply.
	cols, err := s.q(ctx, "SELECT name FROM system.columns WHERE database = 'system' AND table = 'tables'", nil, 1<<20)
	if err != nil {
		return inv, fmt.Errorf("describing system.tables: %w", err)
	}
	hasTotals := slices.ContainsFunc(cols.rows, func(r []string) bool { return len(r) == 1 && r[0] == "total_rows" })
	tq := "SELECT database, name, engine, '', '' FROM system.tables WHERE " + inLocal
	if hasTotals {
		tq = "SELECT database, name, engine, ifNull(toString(total_rows), ''), ifNull(toString(total_bytes), '') FROM system.tables WHERE " + inLocal
	}
	tabs, err := s.q(ctx, tq+fmt.Sprintf(" LIMIT %d", maxListedTables+1), nil, queryByteCap)
	if err != nil {
		return inv, fmt.Errorf("listing tables: %w", err)
	}
	tabRows, cut := keep(tabs.rows, maxListedTables)
	if cut || tabs.truncated {
		inv.Truncate(fmt.Sprintf("tables listed: the first %d of %s", len(tabRows), s.total(ctx, "system.tables", inLocal, len(tabRows))))
	}

	type key struct{ db, t string }
	parts := map[key][2]int64{}
	pr, err := s.q(ctx, fmt.Sprintf("SELECT database, table, toString(sum(rows)), toString(sum(bytes_on_disk)) FROM system.parts WHERE active AND %s GROUP BY database, table LIMIT %d", inLocal, maxListedTables), nil, queryByteCap)
	if err == nil {
		prRows, _ := keep(pr.rows, maxListedTables)
		for _, r := range prRows {
			if len(r) == 4 {
				parts[key{r[0], r[1]}] = [2]int64{datastore.ParseCount(r[2]), datastore.ParseCount(r[3])}
			}
		}
	}
	columns := map[key][]datastore.Column{}
	cr, err := s.q(ctx, fmt.Sprintf("SELECT database, table, name, type FROM system.columns WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') AND %s LIMIT %d", inLocal, maxListedColumns+1), nil, queryByteCap)
	if err != nil {
		return inv, fmt.Errorf("listing columns: %w", err)
	}
	colRows, cut := keep(cr.rows, maxListedColumns)
	if cut || cr.truncated {
		inv.Truncate(fmt.Sprintf("columns listed: the first %d; tables past them are listed without columns and not sampled", len(colRows)))
	}
	for _, r := range colRows {
		if len(r) == 4 {
			k := key{r[0], r[1]}
			columns[k] = append(columns[k], datastore.Column{Name: r[2], Type: r[3]})
		}
	}

	byDB := map[string]*datastore.Database{}
	for _, r := range dbRows {
		if len(r) == 0 {
			continue
		}
		db := datastore.Database{Name: r[0], System: systemDatabases[r[0]]}
		if len(r) == 2 && !localDatabaseEngine(r[1]) {
			db.Engine = r[1] // listed, not opened
		}
		inv.Databases = append(inv.Databases, db)
	}
	for i := range inv.Databases {
		byDB[inv.Databases[i].Name] = &inv.Databases[i]
	}
	for _, r := range tabRows {
		if len(r) != 5 {
			continue
		}
		db := byDB[r[0]]
		if db == nil {
			continue
		}
		db.TableCount++
		if db.System {
			continue
		}
		t := datastore.Table{Database: r[0], Name: r[1], Kind: tableKind(r[2]), Engine: r[2], Rows: -1, Bytes: -1, Columns: columns[key{r[0], r[1]}]}
		if n := datastore.ParseCount(r[3]); r[3] != "" && n >= 0 {
			t.Rows, t.RowsExact = n, true
		}
		if r[4] != "" {
			t.Bytes = datastore.ParseCount(r[4])
		}
		if p, ok := parts[key{r[0], r[1]}]; ok && !t.RowsExact && p[0] >= 0 {
			t.Rows, t.Bytes, t.RowsExact = p[0], p[1], true
		} else if isMergeTree(t.Engine) && !t.RowsExact {
			t.Rows, t.Bytes, t.RowsExact = 0, 0, true // no active parts: empty
		}
		db.Tables = append(db.Tables, t)
	}
	var toCount []*datastore.Table
	for _, db := range inv.Databases {
		for i := range db.Tables {
			if t := &db.Tables[i]; !t.RowsExact && isLocalStorage(t.Engine) {
				toCount = append(toCount, t)
			}
		}
	}
	s.countRows(ctx, &inv, toCount)
	return inv, nil
}

// countRows counts the rows of Log and Memory tables, which keep no count
// the server can give cheaply: count() reads one column under a row limit,
// at most maxCountQueries times a session, and stops when ctx is done.
func (s *session) countRows(ctx context.Context, inv *datastore.Inventory, tables []*datastore.Table) {
	failed := 0
	defer func() {
		if failed > 0 {
			inv.Truncate(fmt.Sprintf("rows not counted in %d Log/Memory tables: no answer, or over %d rows", failed, countRowsCap))
		}
	}()
	for i, t := range tables {
		if ctx.Err() != nil {
			inv.Truncate(fmt.Sprintf("the time budget ran out after counting the rows of %d of %d Log/Memory tables", i, len(tables)))
			return
		}
		if s.countQueries >= maxCountQueries {
			inv.Truncate(fmt.Sprintf("rows not counted in %d of %d Log/Memory tables: at most %d count() queries a session", len(tables)-i, len(tables), maxCountQueries))
			return
		}
		s.countQueries++
		// read_overflow_mode must be throw: break would return a count cut
		// short as if it were the table's.
		cnt, err := s.q(ctx, "SELECT toString(count()) FROM "+quoteIdent(t.Database)+"."+quoteIdent(t.Name),
			[]setting{{"max_rows_to_read", strconv.Itoa(countRowsCap)}, {"read_overflow_mode", "throw"}}, 4096)
		if n := datastore.ParseCount(oneValue(cnt)); err == nil && !cnt.truncated && n >= 0 {
			t.Rows, t.RowsExact = n, true
		} else {
			failed++
		}
	}
}

// total returns how many rows of a system table match where, as text, for
// a truncation reason; "more" (than have) when the server will not say.
func (s *session) total(ctx context.Context, table, where string, have int) string {
	q := "SELECT toString(count()) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	res, err := s.q(ctx, q, nil, 4096)
	if err == nil {
		if n := datastore.ParseCount(oneValue(res)); n >= int64(have) {
			return strconv.FormatInt(n, 10)
		}
	}
	return "more"
}

// localDatabaseEngine reports whether a database engine keeps its tables on
// this server.
func localDatabaseEngine(engine string) bool {
	switch engine {
	case "Ordinary", "Atomic", "Memory", "Lazy", "Replicated", "":
		return true
	}
	return false
}

// tableKind is "view" for the view engines, "table" for every other.
func tableKind(engine string) string {
	switch engine {
	case "View", "MaterializedView", "LiveView", "WindowView":
		return "view"
	}
	return "table"
}

func isMergeTree(engine string) bool { return strings.HasSuffix(engine, "MergeTree") }

// isLocalStorage lists engines whose data lives on this server. Only these
// are counted or sampled: reading a Kafka table consumes messages, and
// reading URL, S3, MySQL, Distributed, … tables makes the server reach out.
func isLocalStorage(engine string) bool {
	switch engine {
	case "Log", "TinyLog", "StripeLog", "Memory":
		return true
	}
	return isMergeTree(engine)
}

// textExpr returns an expression rendering a text-like column as one
// String, or "" for columns that hold no free text.
func textExpr(c datastore.Column) string {
	id := quoteIdent(c.Name)
	t := c.Type
	base := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(t, "LowCardinality("), ")"), "Nullable("), ")")
	switch {
	case t == "String", strings.HasPrefix(t, "FixedString("):
		return id
	case strings.HasPrefix(t, "LowCardinality(") || strings.HasPrefix(t, "Nullable("):
		if base == "String" || strings.HasPrefix(base, "FixedString(") {
			return "ifNull(toString(" + id + "), '')"
		}
	case t == "Array(String)":
		return "arrayStringConcat(" + id + ", '\\n')"
	case strings.HasPrefix(t, "Array(") && strings.Contains(t, "String"),
		strings.HasPrefix(t, "Map("), strings.HasPrefix(t, "Tuple(") && strings.Contains(t, "String"),
		t == "JSON", strings.HasPrefix(t, "Object("):
		return "toString(" + id + ")"
	}
	return ""
}

// textColumns returns the columns of t that Sample reads.
func textColumns(t datastore.Table) []datastore.Column {
	var out []datastore.Column
	for _, c := range t.Columns {
		if textExpr(c) != "" {
			out = append(out, c)
		}
	}
	return out
}

// Column name endings that make a key/value pair: key/value, k/v,
// name/value, string.names/string.values (Nested), config_key/config_value.
var (
	valueEndings = []string{"values", "value", "val", "v"}
	keyEndings   = []string{"names", "keys", "name", "key", "k", "param", "setting", "field", "attr", "attribute", "property"}
)

// keyColumn returns the index of the column holding the keys of column i's
// values, or -1: the two names share a prefix that is empty or ends in "."
// or "_", and both columns are scalar text or both are Array(String).
func keyColumn(cols []datastore.Column, i int) int {
	name := strings.ToLower(cols[i].Name)
	for _, ve := range valueEndings {
		prefix, ok := strings.CutSuffix(name, ve)
		if !ok || prefix != "" && !strings.HasSuffix(prefix, ".") && !strings.HasSuffix(prefix, "_") {
			continue
		}
		for _, ke := range keyEndings {
			for j, c := range cols {
				if j != i && strings.ToLower(c.Name) == prefix+ke && (c.Type == "Array(String)") == (cols[i].Type == "Array(String)") &&
					!strings.HasPrefix(c.Type, "Map(") && !strings.HasPrefix(cols[i].Type, "Map(") {
					return j
				}
			}
		}
	}
	return -1
}

// presented returns the expressions the columns are read back as: their
// text, except that a value column with a key column beside it reads as
// "key = value" (a line per element for parallel arrays), so that rules
// needing the key as context match the value.
func presented(cols []datastore.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = textExpr(c)
		// A Map needs no pairing: its text, {'key':'value'}, keeps each key
		// beside its value, as the keyword-context rules expect.
		j := keyColumn(cols, i)
		switch {
		case j < 0:
		case c.Type == "Array(String)":
			// arrayResize, not an index into the keys: lambdas of old
			// servers cannot see other columns, and arrays of unequal
			// length must not fail the query.
			out[i] = fmt.Sprintf("arrayStringConcat(arrayMap((v, k) -> concat(k, ' = ', v), %[1]s, arrayResize(%[2]s, length(%[1]s), '')), '\\n')",
				quoteIdent(c.Name), quoteIdent(cols[j].Name))
		default:
			out[i] = fmt.Sprintf("concat(%s, ' = ', %s)", textExpr(cols[j]), textExpr(c))
		}
	}
	return out
}

// A long value is read back as its head and a window around where the
// server found what the row was kept for, valueByteCap bytes in all: a
// token at byte 100,000 of a value is classified, and no value costs more.
const (
	headBytes   = valueByteCap / 4 // of a long value, always read
	beforeBytes = valueByteCap / 4 // of the window, before the anchor
)

// window returns the expression reading column i of a source made by
// sampleSource, around leakhound_a, a 1-based position in leakhound_h (0:
// none).
func window(i int) string {
	v := fmt.Sprintf("leakhound_v%d", i)
	a := fmt.Sprintf("(toInt64(leakhound_a) - leakhound_o%d + 1)", i)
	return fmt.Sprintf("if(%[2]s < 1 OR %[2]s > length(%[1]s) OR %[2]s + %[3]d <= %[4]d, substring(%[1]s, 1, %[4]d), "+
		"concat(substring(%[1]s, 1, %[5]d), '\\n', substring(%[1]s, toUInt64(%[2]s - %[6]d), %[7]d))) AS leakhound_c%[8]d",
		v, a, valueByteCap-headBytes-beforeBytes, valueByteCap, headBytes, beforeBytes, valueByteCap-headBytes, i)
}

// sampleSource selects from a table each column's full text as
// leakhound_vI, where it starts in the haystack as leakhound_oI, and the
// haystack, every column joined by newlines, as leakhound_h.
func sampleSource(exprs []string, from string) string {
	var sel, hay []string
	for i, e := range exprs {
		sel = append(sel, fmt.Sprintf("%s AS leakhound_v%d", e, i))
		if i == 0 {
			sel = append(sel, "toInt64(1) AS leakhound_o0")
		} else {
			sel = append(sel, fmt.Sprintf("leakhound_o%d + toInt64(length(leakhound_v%d)) + 1 AS leakhound_o%d", i-1, i-1, i))
		}
		hay = append(hay, fmt.Sprintf("leakhound_v%d", i))
	}
	h := hay[0]
	if len(hay) > 1 {
		h = "concat(" + strings.Join(hay, ", '\\n', ") + ")"
	}
	return fmt.Sprintf("(SELECT %s, %s AS leakhound_h FROM %s)", strings.Join(sel, ", "), h, from)
}

// haystack selects from a table only its haystack, leakhound_h: every
// column's text joined by newlines, as sampleSource joins them.
func haystack(exprs []string, from string) string {
	h := exprs[0]
	if len(exprs) > 1 {
		h = "concat(" + strings.Join(exprs, ", '\\n', ") + ")"
	}
	return fmt.Sprintf("(SELECT %s AS leakhound_h FROM %s)", h, from)
}

// sampleTable reads rows of t (Sample wraps it, for the memory budget). In a few passes over the table the
// server finds which keywords and patterns occur and in how many rows, and
// counts the rows matching each rule whose keywords occur; then it returns a
// few rows per key present (rarest first) and a few at random. The rows
// that matter in a million are read back, not the million. Every bound is
// kept on our side too: rows per answer, bytes in all, tables a session.
func (s *session) sampleTable(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	out := datastore.Rows{Counts: map[string]int64{}}
	if !isLocalStorage(t.Engine) {
		return out, nil
	}
	cols := textColumns(t)
	if len(cols) == 0 {
		return out, nil
	}
	if s.sampledTables >= maxSampledTables {
		return out, fmt.Errorf("%s.%s not sampled (at most %d tables a session): %w", t.Database, t.Name, maxSampledTables, datastore.ErrSessionCap)
	}
	s.sampledTables++
	return s.sample(ctx, t, quoteIdent(t.Database)+"."+quoteIdent(t.Name), lim)
}

// sample is Sample reading from, a table or a subquery.
func (s *session) sample(ctx context.Context, t datastore.Table, from string, lim datastore.Limits) (datastore.Rows, error) {
	out := datastore.Rows{Counts: map[string]int64{}}
	cols := textColumns(t)
	exprs := presented(cols)
	var heads []string
	for i, c := range cols {
		out.Columns = append(out.Columns, c.Name)
		heads = append(heads, fmt.Sprintf("substring(%s, 1, %d) AS leakhound_c%d", exprs[i], valueByteCap, i))
	}
	budget := lim.Bytes
	if budget <= 0 {
		budget = queryByteCap
	}
	initial := budget
	// Unbounded scans are allowed only where the table is known to be small.
	pushdown := s.limitsOK || (t.RowsExact && t.Rows <= unboundedScanRows)
	if !pushdown && len(lim.Keywords)+len(lim.Patterns) > 0 {
		out.Truncation = append(out.Truncation, fmt.Sprintf("not searched: the server refuses our limits and the table is not known to hold at most %d rows", unboundedScanRows))
	}
	if pushdown && len(lim.Keywords)+len(lim.Patterns) > 0 {
		src := sampleSource(exprs, from)
		seen := map[string]bool{} // a row found under two keys is kept once
		if err := s.discover(ctx, &out, src, len(cols), max(lim.Rows, 1), lim, &budget, seen); err != nil {
			return out, fmt.Errorf("searching %s.%s: %w", t.Database, t.Name, err)
		}
		if len(lim.Distinct) > 0 {
			if err := s.distinct(ctx, &out, src, len(cols), max(lim.Rows, 1), lim, &budget, seen); err != nil {
				return out, fmt.Errorf("searching %s.%s by value: %w", t.Database, t.Name, err)
			}
		}
		if len(lim.Exact) > 0 {
			if err := s.countExact(ctx, &out, haystack(exprs, from), lim.Exact); err != nil {
				return out, fmt.Errorf("counting matches in %s.%s: %w", t.Database, t.Name, err)
			}
		}
	}
	if lim.Random > 0 && budget > 0 {
		every := int64(1)
		if t.Rows > int64(lim.Random)*10 {
			every = t.Rows / int64(lim.Random*10)
		}
		q := fmt.Sprintf("SELECT %s FROM %s WHERE rand() %% %d = 0 LIMIT %d", strings.Join(heads, ", "), from, every, lim.Random)
		if err := s.fetchInto(ctx, &out, q, lim.Random, &budget); err != nil {
			return out, fmt.Errorf("sampling %s.%s: %w", t.Database, t.Name, err)
		}
	}
	if budget <= 0 {
		out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", initial))
	}
	return out, nil
}

// unboundedScanRows is the largest table scanned when the server refuses
// our limits (a readonly=1 profile over HTTP).
const unboundedScanRows = 1_000_000

// maxQueryText keeps each query well under what ClickHouse accepts in an
// HTTP GET URL (about 16 KB once encoded); longer condition lists are
// split over several queries.
const maxQueryText = 6000

// discover finds, in one pass over the table per batch, which keywords and
// patterns occur, in how many rows, and keeps up to perKey of those rows for
// each. Keywords are found with extractAll over an alternation of all of
// them, longest first; patterns likewise (as non-capturing groups:
// ClickHouse limits capture groups), each fragment then mapped to the first
// pattern it matches. groupArray keeps the rows and ARRAY JOIN flattens them,
// so every column read back is a plain String, a window of a long value
// around where the key was found (see window). A peer that sends more rows
// than asked, or keys not asked for, has them dropped.
func (s *session) discover(ctx context.Context, out *datastore.Rows, src string, ncols, perKey int, lim datastore.Limits, budget *int64, seen map[string]bool) error {
	kws := slices.Clone(lim.Keywords)
	byValue := covered(lim)
	slices.SortStableFunc(kws, func(a, b string) int { return len(b) - len(a) })
	type pass struct {
		keys []string
		// sel selects leakhound_k, one key found in the row, and
		// leakhound_x, what of it was first found in leakhound_h (the
		// key itself, or a pattern's first fragment).
		sel      string
		patterns bool // leakhound_k is an index into keys, not a key
		// single: one row is fetched of each key, its rows being
		// fetched by value (see distinct).
		single bool
	}
	var passes []pass
	// Keys whose rows the distinct pass fetches by value need a single row
	// here: they go to passes of their own, so that no list of them
	// lengthens a query (each pass is a scan of the table).
	var byKey, one []string
	for _, k := range kws {
		if byValue[k] {
			one = append(one, k)
		} else {
			byKey = append(byKey, k)
		}
	}
	for _, group := range []struct {
		keys   []string
		single bool
	}{{byKey, false}, {one, true}} {
		for _, batch := range datastore.Batches(group.keys, func(k string) int { return 2*len(k) + 1 }, maxQueryText) {
			alt := make([]string, len(batch))
			for i, k := range batch {
				alt[i] = regexp.QuoteMeta(k)
			}
			passes = append(passes, pass{batch, fmt.Sprintf("arrayJoin(arrayDistinct(extractAll(leakhound_h, %s))) AS leakhound_k, leakhound_k AS leakhound_x",
				quoteString(strings.Join(alt, "|"))), false, group.single})
		}
	}
	for _, batch := range datastore.Batches(lim.Patterns, func(p string) int { return 2*len(p) + 40 }, maxQueryText) {
		alt := make([]string, len(batch))
		var which []string
		for i, p := range batch {
			alt[i] = "(?:" + nonCapturing(p) + ")"
			which = append(which, fmt.Sprintf("match(x, %s), %s", quoteString(p), quoteString(strconv.Itoa(i))))
		}
		// The fragments found, and for each the pattern it matches: a
		// key's window is anchored at its first fragment.
		passes = append(passes, pass{batch, fmt.Sprintf("extractAll(leakhound_h, %s) AS leakhound_f, arrayMap(x -> multiIf(%s, ''), leakhound_f) AS leakhound_i, "+
			"arrayJoin(arrayDistinct(leakhound_i)) AS leakhound_k, leakhound_f[indexOf(leakhound_i, leakhound_k)] AS leakhound_x",
			quoteString(strings.Join(alt, "|")), strings.Join(which, ", ")), true, false})
	}
	// The rows kept are whole (values, their offsets and the anchor) until
	// after GROUP BY: windows are cut from the few rows read back, not
	// from every row that holds a key.
	// and where the key was found is looked up in those rows only.
	kept := []string{"leakhound_x", "leakhound_h"}
	elems := []string{"position(tupleElement(leakhound_r, 2), tupleElement(leakhound_r, 1)) AS leakhound_a"}
	windows := make([]string, ncols)
	for i := range ncols {
		kept = append(kept, fmt.Sprintf("leakhound_v%d", i), fmt.Sprintf("leakhound_o%d", i))
		elems = append(elems, fmt.Sprintf("tupleElement(leakhound_r, %d) AS leakhound_v%d", 2*i+3, i), fmt.Sprintf("tupleElement(leakhound_r, %d) AS leakhound_o%d", 2*i+4, i))
		windows[i] = window(i)
	}
	for pi, p := range passes {
		if *budget <= 0 {
			break // --max-read is a cap: what was found so far stands
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped after %d of %d search passes: %w", pi, len(passes), err)
		}
		per := perKey
		if p.single {
			per = 1
		}
		q := fmt.Sprintf("SELECT leakhound_k, toString(leakhound_n), %s FROM ("+
			"SELECT leakhound_k, leakhound_n, %s FROM ("+
			"SELECT leakhound_k, count() AS leakhound_n, groupArray(%d)(tuple(%s)) AS leakhound_g FROM ("+
			"SELECT %s, %s FROM %s) GROUP BY leakhound_k"+
			") ARRAY JOIN leakhound_g AS leakhound_r)",
			strings.Join(windows, ", "), strings.Join(elems, ", "), per, strings.Join(kept, ", "), p.sel, strings.Join(kept[1:], ", "), src)
		res, err := s.q(ctx, q, []setting{{"max_rows_to_read", strconv.Itoa(countRowsCap)}, {"read_overflow_mode", "break"}}, *budget)
		if err != nil {
			return err
		}
		*budget -= res.bytes
		out.ReadBytes = datastore.AddCount(out.ReadBytes, res.bytes)
		if res.truncated {
			out.Truncation = append(out.Truncation, fmt.Sprintf("search pass %d of %d: answer cut at the read budget", pi+1, len(passes)))
		}
		kept := map[string]int{}
		dropped := 0
		for _, r := range res.rows {
			if len(r) != 2+ncols || r[0] == "" {
				dropped++
				continue
			}
			key := r[0]
			if p.patterns {
				i, err := strconv.Atoi(key)
				if err != nil || i < 0 || i >= len(p.keys) {
					dropped++
					continue
				}
				key = p.keys[i]
			} else if !slices.Contains(p.keys, key) {
				dropped++
				continue
			}
			if kept[key] >= per {
				dropped++
				continue
			}
			kept[key]++
			out.Counts[key] = datastore.ParseCount(r[1])
			row := r[2:]
			id := strings.Join(row, "\x00")
			if !seen[id] {
				seen[id] = true
				out.Values = append(out.Values, row)
				out.ReadRows++
			}
		}
		if dropped > 0 {
			out.Truncation = append(out.Truncation, fmt.Sprintf("search pass %d of %d: %d rows the query did not ask for were dropped", pi+1, len(passes), dropped))
		}
	}
	return nil
}

// nonCapturing rewrites every capturing group of an RE2 pattern as a
// non-capturing one, leaving escapes and character classes alone.
func nonCapturing(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			b.WriteString(p[i : i+2])
			i++
		case c == '[':
			j := i + 1
			if j < len(p) && p[j] == '^' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				if p[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j+1, len(p))
			b.WriteString(p[i:end])
			i = end - 1
		case c == '(' && (i+1 >= len(p) || p[i+1] != '?'):
			b.WriteString("(?:")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// countExact counts the rows matching each exact pattern whose keywords
// occur, evaluated only on the rows that hold one of them: the server
// filters with fast substring search and runs the regular expressions on
// the few rows left. src selects leakhound_h (see haystack).
func (s *session) countExact(ctx context.Context, out *datastore.Rows, src string, exact map[string]datastore.Match) error {
	var names []string
	for n, m := range exact {
		if slices.ContainsFunc(m.Keywords, func(k string) bool { return out.Counts[k] > 0 }) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, batch := range datastore.Batches(names, func(n string) int { return len(exact[n].Pattern) + 60 + 40*len(exact[n].Keywords) }, maxQueryText) {
		if err := ctx.Err(); err != nil {
			return err
		}
		var kws, sums []string
		for _, n := range batch {
			for _, k := range exact[n].Keywords {
				if out.Counts[k] > 0 && !slices.Contains(kws, k) {
					kws = append(kws, regexp.QuoteMeta(k))
				}
			}
			sums = append(sums, fmt.Sprintf("toString(sum(match(leakhound_h, %s)))", quoteString(exact[n].Pattern)))
		}
		// One pass of one alternation filters the rows, not a substring
		// search per keyword.
		q := fmt.Sprintf("SELECT %s FROM %s WHERE match(leakhound_h, %s)", strings.Join(sums, ", "), src, quoteString(strings.Join(kws, "|")))
		res, err := s.q(ctx, q, []setting{{"max_rows_to_read", strconv.Itoa(countRowsCap)}, {"read_overflow_mode", "break"}}, 1<<20)
		if err != nil {
			return err
		}
		if len(res.rows) == 1 && len(res.rows[0]) == len(batch) {
			for i, n := range batch {
				out.Counts[n] = datastore.ParseCount(res.rows[0][i])
			}
		}
	}
	return nil
}

// fetchInto runs q and keeps at most limit of its rows: a peer may ignore
// the query's LIMIT.
func (s *session) fetchInto(ctx context.Context, out *datastore.Rows, q string, limit int, budget *int64) error {
	res, err := s.q(ctx, q, nil, *budget)
	if err != nil {
		return err
	}
	*budget -= res.bytes
	out.ReadBytes = datastore.AddCount(out.ReadBytes, res.bytes)
	rows, cut := keep(res.rows, limit)
	if cut {
		out.Truncation = append(out.Truncation, fmt.Sprintf("random sample: the server sent %d rows for LIMIT %d; %d kept", len(res.rows), limit, limit))
	}
	for _, r := range rows {
		if len(r) == len(out.Columns) {
			out.Values = append(out.Values, r)
			out.ReadRows++
		}
	}
	return nil
}

// quoteIdent quotes a name from the server for use in a query. Names are
// data: backquotes and backslashes are escaped, every other byte kept.
func quoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}

// quoteString quotes a string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// Remediation implements datastore.Session: the general advice. Each
// capability granted brings its own (privileges.go).
func (s *session) Remediation(p datastore.Privileges) []string {
	out := []string{
		"Set a password for user default (users.xml: <password_sha256_hex>), or remove the user",
		"Restrict <networks> of every user to trusted ranges (users.xml: <networks><ip>TRUSTED-CIDR</ip></networks>)",
		"Bind only internal interfaces (<listen_host>) and firewall ports 8123, 9000, 8443 and 9440 from the internet",
	}
	if p.Readonly != datastore.Yes {
		out = append(out, remediationReadonly)
	}
	if !s.svc.TLS {
		out = append(out, "Serve only TLS (https_port 8443, tcp_port_secure 9440) and close the plaintext ports")
	}
	return out
}
