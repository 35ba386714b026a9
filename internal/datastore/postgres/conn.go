package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on every query of a session; a Sample's Limits narrow them.
const (
	queryRowCap   = 20000    // rows kept of one answer
	queryByteCap  = 16 << 20 // bytes read for one answer
	maxMessage    = 4 << 20  // one backend message (a row of capped values fits)
	valueByteCap  = 8192     // characters of one value read back (bytes, for ASCII)
	lockTimeoutMS = 1000
)

// errReadBudget: an answer went past its byte or row cap; the connection
// is closed, as a server sending that much is not to be drained.
var errReadBudget = errors.New("the answer went past the read budget")

// budgetConn counts what the server sends and fails a read past the
// budget. It sets no deadline of its own: pgconn's context deadlines hold.
type budgetConn struct {
	net.Conn
	read  atomic.Int64
	limit atomic.Int64
}

func (c *budgetConn) Read(p []byte) (int, error) {
	left := c.limit.Load() - c.read.Load()
	if left <= 0 {
		return 0, errReadBudget
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// conn is one connection of a session, to one database.
type conn struct {
	db  string
	pg  *pgconn.PgConn
	raw *budgetConn
}

// connect opens a connection to db as svc.User with no password. The
// config is built from explicit settings only: no PGPASSWORD, .pgpass or
// service file of the operator's may reach a server being assessed, and
// any authentication request fails the connection (require_auth=none).
func connect(ctx context.Context, svc *datastore.Service, db string, timeout time.Duration) (*conn, error) {
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable passfile=/nonexistent",
		kv(svc.Endpoint.IP.String()), svc.Endpoint.Port, kv(svc.User), kv(db)))
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Database = svc.Endpoint.IP.String(), uint16(svc.Endpoint.Port), svc.User, db
	cfg.Password = ""
	cfg.Fallbacks = nil
	// PGTARGETSESSIONATTRS would add a query of pgconn's own.
	cfg.ValidateConnect, cfg.AfterConnect = nil, nil
	cfg.RequireAuth = "none"
	cfg.KerberosSrvName, cfg.KerberosSpn = "", ""
	cfg.OAuthTokenProvider = nil
	cfg.SSLNegotiation = "postgres"
	cfg.ConnectTimeout = timeout
	cfg.MaxProtocolMessageBodyLen = maxMessage
	cfg.TLSConfig = nil
	if svc.TLS {
		cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true, ServerName: svc.Endpoint.Host} // recorded by the probe, never trusted
	}
	// Guards in the startup message itself: the whole session is
	// read-only, and no statement runs or waits long.
	cfg.RuntimeParams = map[string]string{
		"application_name":                    "leakhound",
		"client_encoding":                     "UTF8",
		"DateStyle":                           "ISO",
		"default_transaction_read_only":       "on",
		"statement_timeout":                   strconv.FormatInt(max(timeout.Milliseconds(), 1), 10),
		"lock_timeout":                        strconv.Itoa(lockTimeoutMS),
		"idle_in_transaction_session_timeout": strconv.FormatInt(max(2*timeout.Milliseconds(), 1000), 10),
	}
	var raw *budgetConn
	cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", svc.Endpoint.Addr())
		if err != nil {
			return nil, err
		}
		raw = &budgetConn{Conn: c}
		raw.limit.Store(1 << 20) // the startup exchange
		return raw, nil
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pg, err := pgconn.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to database %q as %q: %w", db, svc.User, err)
	}
	return &conn{db: db, pg: pg, raw: raw}, nil
}

// kv quotes a keyword/value connection-string value.
func kv(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

func (c *conn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.pg.Close(ctx)
}

// result is the rows of one query, as text (NULL as "").
type result struct {
	rows      [][]string
	bytes     int64
	truncated bool // the answer went past a cap: the connection was closed
	held      int64
}

// query runs sql, one SELECT, in a read-only transaction with a statement
// timeout, keeping at most maxRows rows and reading at most maxBytes.
// A server that sends more has its connection closed: it is never
// drained.
func (c *conn) query(ctx context.Context, sql string, timeout time.Duration, maxRows int, maxBytes int64) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout+timeout/2)
	defer cancel()
	start := c.raw.read.Load()
	c.raw.limit.Store(start + maxBytes)
	full := fmt.Sprintf("BEGIN READ ONLY; SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d; %s; COMMIT",
		max(timeout.Milliseconds(), 1), lockTimeoutMS, sql)
	res := &result{}
	mrr := c.pg.Exec(ctx, full)
	var qerr error
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			if len(res.rows) >= maxRows {
				res.truncated = true
				break
			}
			vals := rr.Values()
			row := make([]string, len(vals))
			for i, v := range vals {
				// Queries cut values at valueByteCap characters, up to
				// four bytes each; a peer that ignores that is cut here.
				if len(v) > 4*valueByteCap {
					v = []byte(strings.ToValidUTF8(string(v[:4*valueByteCap]), ""))
				}
				row[i] = string(v)
				res.held += int64(len(row[i])) + 16
			}
			res.held += 24
			res.rows = append(res.rows, row)
		}
		if res.truncated {
			break
		}
		if _, err := rr.Close(); err != nil && qerr == nil {
			qerr = err
		}
	}
	res.bytes = c.raw.read.Load() - start
	if res.truncated {
		// Closing, not draining: the rest of the answer is never read.
		c.pg.Close(context.Background())
		return res, nil
	}
	if err := mrr.Close(); err != nil && qerr == nil {
		qerr = err
	}
	res.bytes = c.raw.read.Load() - start
	if errors.Is(qerr, errReadBudget) || (qerr != nil && c.raw.read.Load()-start >= maxBytes) {
		res.truncated = true
		c.pg.Close(context.Background())
		return res, nil
	}
	if qerr == nil && c.pg.TxStatus() != 'I' && !c.pg.IsClosed() {
		qerr = errors.New("the transaction did not end")
	}
	if qerr != nil && sqlState(qerr) == "" && c.pg.IsClosed() {
		// pgconn says "conn closed" whatever closed it; say what did.
		switch {
		case ctx.Err() != nil:
			qerr = fmt.Errorf("no answer within %s: %w", timeout+timeout/2, qerr)
		default:
			qerr = fmt.Errorf("the server's answer broke the protocol or passed the %d-byte message cap: %w", maxMessage, qerr)
		}
	}
	if c.pg.TxStatus() == 'E' || c.pg.TxStatus() == 'T' {
		rctx, rcancel := context.WithTimeout(context.Background(), timeout)
		c.pg.Exec(rctx, "ROLLBACK").Close()
		rcancel()
	}
	return res, qerr
}

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

var _ datastore.Session = (*session)(nil)

// session is a read-only session on a server that let us in. It keeps one
// connection to the database the probe used and, while a database is
// being read, one to that database.
type session struct {
	svc     *datastore.Service
	timeout time.Duration
	main    *conn
	other   *conn // to the database last inventoried or sampled
	held    int64 // of datastore.SessionMemory, what this session holds
	// rowsHeld is, of held, what the last Sample returned.
	rowsHeld int64
	// perTable counts per-table queries (counts, samples) against maxPerTable.
	perTable int
	// unreadable names tables whose SELECT the user lacks, from the inventory.
	unreadable map[string]bool
}

// Open implements datastore.Driver: a session as the user the probe
// proved, in the database it proved it in.
func (Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no session without proven access (auth %s)", svc.Endpoint, svc.Auth)
	}
	s := &session{svc: svc, timeout: timeout, unreadable: map[string]bool{}}
	c, err := connect(ctx, svc, "postgres", timeout)
	if sqlState(err) == "3D000" {
		c, err = connect(ctx, svc, "template1", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc.Endpoint, err)
	}
	s.main = c
	return s, nil
}

// Close implements datastore.Session.
func (s *session) Close() error {
	if s.other != nil {
		s.other.close()
		s.other = nil
	}
	if s.main != nil {
		s.main.close()
		s.main = nil
	}
	return nil
}

// in returns a connection to database db, reusing the main one or the
// last one opened; a closed connection (cut at a cap) is opened again.
func (s *session) in(ctx context.Context, db string) (*conn, error) {
	if s.main != nil && s.main.pg.IsClosed() {
		s.main = nil
	}
	if s.main != nil && s.main.db == db {
		return s.main, nil
	}
	if s.other != nil && s.other.db == db && !s.other.pg.IsClosed() {
		return s.other, nil
	}
	if s.other != nil {
		s.other.close()
		s.other = nil
	}
	c, err := connect(ctx, s.svc, db, s.timeout)
	if err != nil {
		return nil, err
	}
	if s.main == nil {
		s.main = c
	} else {
		s.other = c
	}
	return c, nil
}

// q runs one query in db, charging what it holds to the session.
func (s *session) q(ctx context.Context, db, sql string, maxRows int, maxBytes int64) (*result, error) {
	c, err := s.in(ctx, db)
	if err != nil {
		return nil, err
	}
	if left := datastore.SessionMemory - s.held; left < maxBytes {
		maxBytes = max(left, 0)
	}
	if maxBytes == 0 {
		return nil, errors.New("the session's memory budget is spent")
	}
	return c.query(ctx, sql, s.timeout, maxRows, maxBytes)
}

// mainDB is the database the session's first connection is in.
func (s *session) mainDB() string {
	if s.main != nil {
		return s.main.db
	}
	return "postgres"
}

// ServerID implements datastore.Session: the cluster's system identifier
// (readable by any user, unique per initdb) and the postmaster's start time.
func (s *session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	id := datastore.ServerID{Engine: "postgresql"}
	res, err := s.q(ctx, s.mainDB(), "SELECT (SELECT system_identifier::text FROM pg_control_system()), "+
		"extract(epoch FROM pg_postmaster_start_time())::bigint::text, current_setting('port')", 2, 64<<10)
	if err != nil || len(res.rows) != 1 || len(res.rows[0]) != 3 {
		// pg_control_system() is 9.6+; the version and port then stand in.
		res, err = s.q(ctx, s.mainDB(), "SELECT '', extract(epoch FROM pg_postmaster_start_time())::bigint::text, current_setting('port')", 2, 64<<10)
		if err != nil {
			return id, err
		}
		if len(res.rows) != 1 || len(res.rows[0]) != 3 {
			return id, errors.New("no answer to the server identity query")
		}
	}
	r := res.rows[0]
	key := r[0]
	if key == "" {
		key = "version " + s.svc.Version + " port " + r[2]
	}
	id.Key = s.svc.Endpoint.IP.String() + "|" + printable(key, 128)
	if sec, err := strconv.ParseInt(r[1], 10, 64); err == nil {
		id.Started = time.Unix(sec, 0).UTC()
	}
	return id, nil
}

// Pushdown implements datastore.Session: strpos for keywords, ~ (ARE) for
// patterns, and counts run by the server.
func (s *session) Pushdown() datastore.Pushdown {
	return datastore.Pushdown{Substring: true, Regex: datastore.DialectPOSIX, Counts: true, Distinct: true}
}
