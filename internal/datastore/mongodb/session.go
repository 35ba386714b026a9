package mongodb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Session is a read-only session on one MongoDB server. It sends only
// commands that read: isMaster, buildInfo, serverStatus, connectionStatus,
// listDatabases, listCollections, collStats, count, find, aggregate (whose
// pipelines hold $sample, $match and $limit only), getMore within a cap,
// and killCursors for the cursors it leaves.
type Session struct {
	svc     *datastore.Service
	w       *conn
	timeout time.Duration
	mem     *memBudget
	// Of mem, what the returned inventory and the last Sample's rows hold.
	invHeld, rowsHeld int64
	sampled           int
	ferret            bool // FerretDB: regular expressions are Go's (RE2)
	noSample          bool // the server has no $sample stage
	build             Document
}

// trace prints every command with its time and size to standard error
// (LEAKHOUND_TRACE=1). Commands hold names and patterns, never values.
var trace = os.Getenv("LEAKHOUND_TRACE") == "1"

func (s *Session) connect(ctx context.Context) error {
	w, err := dial(ctx, s.svc.Endpoint, s.svc.TLS, s.timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", s.svc.Endpoint, err)
	}
	w.charge = s.mem.charge
	disarm := w.arm(ctx, s.timeout)
	_, err = w.hello()
	if err == nil && s.build == nil {
		s.build, err = w.command("admin", doc{{"buildInfo", int32(1)}}, 1<<20)
	}
	disarm()
	if err != nil {
		w.close()
		return fmt.Errorf("%s: handshake: %w", s.svc.Endpoint, err)
	}
	s.ferret = s.build.Str("ferretdbVersion") != ""
	s.w = w
	return nil
}

// Close implements datastore.Session.
func (s *Session) Close() error {
	if s.w == nil {
		return nil
	}
	err := s.w.close()
	s.w = nil
	return err
}

// cmd runs one command within the session's timeout, holding at most
// limit bytes of its answer (charged to the session's memory until the
// caller's reset). A connection that failed or was cut mid-answer is
// dropped and the next command reconnects.
func (s *Session) cmd(ctx context.Context, db string, c doc, limit int) (Document, error) {
	if s.w == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	disarm := s.w.arm(ctx, s.timeout+time.Second) // maxTimeMS fires first
	d, err := s.w.command(db, c, limit)
	disarm()
	if trace {
		name := ""
		if len(c) > 0 {
			name = c[0].Key
		}
		fmt.Fprintf(os.Stderr, "trace: %s %6dms err=%v  %s %s\n", s.svc.Endpoint, time.Since(start).Milliseconds(), err, db, name)
	}
	var ce *CommandError
	if err != nil && !errors.As(err, &ce) {
		s.w.close()
		s.w = nil
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return nil, fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
	}
	return d, err
}

// cursor runs a command that answers with a cursor and reads its batches
// (getMore while the server has more) until maxDocs documents or limit
// bytes are held; a cursor left open is killed. more says the cap cut it.
func (s *Session) cursor(ctx context.Context, db string, c doc, coll string, maxDocs int, limit int) (docs []Document, more bool, bytes int64, err error) {
	return s.cursorUntil(ctx, db, c, coll, maxDocs, limit, time.Time{})
}

// cursorUntil is cursor, asking no more batches once until has passed
// (zero: no such bound): a search keeps what it found in time.
func (s *Session) cursorUntil(ctx context.Context, db string, c doc, coll string, maxDocs int, limit int, until time.Time) (docs []Document, more bool, bytes int64, err error) {
	mark := s.mem.mark()
	d, err := s.cmd(ctx, db, c, limit)
	if err != nil {
		return nil, false, 0, err
	}
	bytes = s.mem.mark() - mark
	cur := d.Sub("cursor")
	if cur == nil {
		return nil, false, bytes, fmt.Errorf("%s: an answer without a cursor", c[0].Key)
	}
	batch := cur.Sub("firstBatch")
	id, _ := cur.Get("id")
	for {
		for _, e := range batch {
			if len(docs) >= maxDocs {
				more = true
				break
			}
			if e.Val.Type == 0x03 {
				docs = append(docs, e.Val.Doc)
			}
		}
		if id.Int == 0 || more || len(docs) >= maxDocs || int(bytes) >= limit || (!until.IsZero() && time.Now().After(until)) {
			break
		}
		m := s.mem.mark()
		batchSize := int32(min(maxDocs-len(docs), 1000))
		if bs := c.int32("batchSize"); bs > 0 && bs < batchSize {
			batchSize = bs
		}
		next, err := s.cmd(ctx, db, doc{{"getMore", rawValue{id.Type, id.Raw}}, {"collection", coll},
			{"batchSize", batchSize}}, limit-int(bytes))
		if err != nil {
			return docs, true, bytes, err
		}
		bytes += s.mem.mark() - m
		cur = next.Sub("cursor")
		if cur == nil {
			break
		}
		batch = cur.Sub("nextBatch")
		id, _ = cur.Get("id")
	}
	if id.Int != 0 && id.Type == 0x12 {
		more = true
		if s.w != nil {
			s.cmd(ctx, db, doc{{"killCursors", coll}, {"cursors", arr{rawValue{id.Type, id.Raw}}}}, 64<<10)
		}
	}
	return docs, more, bytes, nil
}

// int32 returns the int32 under key in a command being built, 0 if none.
func (d doc) int32(key string) int32 {
	for _, e := range d {
		if n, ok := e.Val.(int32); ok && e.Key == key {
			return n
		}
	}
	return 0
}

// ServerID implements datastore.Session: serverStatus's host and pid, and
// its uptime for the start; buildInfo's git version where serverStatus is
// refused.
func (s *Session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	mark := s.mem.mark()
	defer s.mem.reset(mark)
	id := datastore.ServerID{Engine: "mongodb"}
	st, err := s.cmd(ctx, "admin", doc{{"serverStatus", int32(1)}, {"metrics", int32(0)}, {"locks", int32(0)},
		{"wiredTiger", int32(0)}, {"tcmalloc", int32(0)}, {"repl", int32(0)}, {"opcounters", int32(0)}}, 4<<20)
	if err != nil {
		if s.build == nil {
			return id, fmt.Errorf("%s: the server's identity: %w", s.svc.Endpoint, err)
		}
		id.Key = s.svc.Endpoint.IP.String() + "|" + clean(s.build.Str("version"), 40) + "|" + clean(s.build.Str("gitVersion"), 64)
		return id, nil
	}
	pid := st.Int("pid")
	id.Key = fmt.Sprintf("%s|%s|%d", s.svc.Endpoint.IP, clean(st.Str("host"), 255), pid)
	if up, ok := st.Number("uptime"); ok && up >= 0 && up < 100*365*86400 {
		id.Started = time.Now().Add(-time.Duration(up * float64(time.Second))).Truncate(time.Second)
	}
	return id, nil
}

// Pushdown implements datastore.Session: $regex filters run on MongoDB's
// server, in PCRE, keywords as escaped patterns. FerretDB 1.x runs Go's
// RE2 but compiles a $regex again for every document and field it
// filters: the rules' patterns cost it about a millisecond a document on
// the lab's machine, so a search finds nothing within its budget there,
// and FerretDB is given no filter at all (the documents read at random
// are classified here). Counts come from the documents read back.
func (s *Session) Pushdown() datastore.Pushdown {
	if s.ferret {
		return datastore.Pushdown{}
	}
	return datastore.Pushdown{Substring: true, Regex: datastore.DialectPCRE}
}

// memBudget counts the bytes a session holds of what its server sent,
// against datastore.SessionMemory.
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
