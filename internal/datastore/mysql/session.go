package mysql

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Session is a read-only session on one MySQL or MariaDB server.
type Session struct {
	svc     *datastore.Service
	w       *wire
	mariadb bool
	version string
	timeout time.Duration
	mem     *memBudget
	// Of mem, what the returned inventory and the last Sample's rows hold.
	invHeld, rowsHeld int64
	sampled           int // tables sampled, against maxSampledTables
	// noServerLimit: the server knows no statement time limit (MySQL
	// before 5.7.8, MariaDB before 10.1); only our deadlines bound queries.
	noServerLimit bool
}

// trace prints every query with its time and size to standard error
// (LEAKHOUND_TRACE=1). Queries hold identifiers and hex keywords, never values.
var trace = os.Getenv("LEAKHOUND_TRACE") == "1"

// Close implements datastore.Session.
func (s *Session) Close() error {
	if s.w == nil {
		return nil
	}
	s.w.quit()
	err := s.w.c.Close()
	s.w = nil
	return err
}

// q runs one statement, keeping at most rows rows and reading at most
// bytes. An answer cut short, or a connection that failed mid-answer, is
// dropped (the rest of the answer is still in flight) and the next
// statement reconnects.
func (s *Session) q(ctx context.Context, sql string, rows int, bytes int64) (*resultSet, error) {
	if s.w == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	disarm := s.w.arm(ctx, s.timeout+time.Second) // the server's own limit fires first
	mark := s.mem.mark()
	res, err := s.w.query(sql, queryCaps{rows: rows, bytes: bytes, cell: valueByteCap, charge: s.mem.charge})
	disarm()
	if trace {
		n := int64(0)
		if res != nil {
			n = res.Bytes
		}
		fmt.Fprintf(os.Stderr, "trace: %s %6dms %8dB err=%v  %s\n", s.svc.Endpoint, time.Since(start).Milliseconds(), n, err, clean(sql, 200))
	}
	var se *ServerError
	if (err != nil && !errors.As(err, &se)) || (res != nil && res.Cut != "") {
		s.w.c.Close()
		s.w = nil
	}
	if err != nil {
		s.mem.reset(mark)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			// The connection's deadline was the context's, and fired first.
			return nil, fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return nil, err
	}
	return res, nil
}

// one runs a query whose answer is one row of evidence; an answer cut
// short is an error, never a success.
func (s *Session) one(ctx context.Context, sql string) ([]string, []bool, error) {
	res, err := s.q(ctx, sql, 2, 64<<10)
	if err != nil {
		return nil, nil, err
	}
	if res.Cut != "" || len(res.Rows) != 1 {
		return nil, nil, fmt.Errorf("%d rows where one was asked for", len(res.Rows))
	}
	return res.Rows[0], res.Null[0], nil
}

// ServerID implements datastore.Session. MySQL names its process by
// @@server_uuid; MariaDB has none, so host name, port and data directory
// stand for it. The start time is now minus Uptime.
func (s *Session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	q := "SELECT @@server_uuid, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'"
	if s.mariadb {
		q = "SELECT CONCAT_WS('|', @@hostname, @@port, @@datadir), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'"
	}
	row, _, err := s.one(ctx, q)
	if err != nil && !s.mariadb {
		// MySQL 5.7 keeps status in performance_schema.
		row, _, err = s.one(ctx, "SELECT @@server_uuid, VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime'")
	}
	if err != nil {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: %w", s.svc.Endpoint, err)
	}
	if len(row) != 2 {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: an answer of %d columns, want 2", s.svc.Endpoint, len(row))
	}
	id := datastore.ServerID{Engine: "mysql", Key: s.svc.Endpoint.IP.String() + "|" + row[0]}
	if up, err := strconv.ParseInt(strings.TrimSpace(row[1]), 10, 64); err == nil && up >= 0 && up < 100*365*86400 {
		id.Started = time.Now().Add(-time.Duration(up) * time.Second).Truncate(time.Second)
	}
	return id, nil
}

// Pushdown implements datastore.Session: MariaDB's REGEXP is PCRE2,
// MySQL 8's is ICU; rows by distinct value where the server has
// REGEXP_SUBSTR and window functions.
func (s *Session) Pushdown() datastore.Pushdown {
	d := datastore.DialectICU
	if s.mariadb {
		d = datastore.DialectPCRE
	}
	return datastore.Pushdown{Substring: true, Regex: d, Counts: true, Distinct: s.groupsByValue()}
}

// Flavour says which server answered: "MariaDB 10.11.19" or "MySQL 8.0.36".
func (s *Session) Flavour() string {
	if s.mariadb {
		return "MariaDB " + shortVersion(s.version)
	}
	return "MySQL " + shortVersion(s.version)
}

// memBudget counts the bytes a session holds of what its server sent
// (cells with their headers, names), against datastore.SessionMemory.
type memBudget struct {
	server string
	limit  int64
	held   int64
}

func newMemBudget(server string, limit int64) *memBudget {
	return &memBudget{server: server, limit: limit}
}

var errMemoryBudget = errors.New("memory budget exhausted")

func (m *memBudget) charge(n int64) error {
	if n < 0 || n > m.limit-m.held {
		return fmt.Errorf("%s sent more than the %d MiB leakhound holds of one server's answers: %w", m.server, m.limit>>20, errMemoryBudget)
	}
	m.held += n
	return nil
}

func (m *memBudget) mark() int64      { return m.held }
func (m *memBudget) reset(mark int64) { m.held = mark }

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// quoteIdent quotes a name from the server: backticks doubled, every other
// byte kept (a backslash is not special inside backticks).
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// hexLit is a string as a hex literal: no quoting, escaping or sql_mode
// (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) can change what it means.
func hexLit(s string) string {
	if s == "" {
		return "''"
	}
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 3+2*len(s))
	b = append(b, "X'"...)
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(append(b, '\''))
}

// strLit is a string literal in the connection's character set (hex
// literals are binary strings, and compare as bytes).
func strLit(s string) string { return "CONVERT(" + hexLit(s) + " USING utf8mb4)" }
