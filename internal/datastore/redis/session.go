package redis

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

// Session is a read-only session on one Redis server: every command it
// sends passes readOnly, every reply is read under caps and charged to its
// memory budget.
type Session struct {
	svc     *datastore.Service
	c       *conn
	db      int // the database the connection has SELECTed
	timeout time.Duration
	mem     *memBudget
	// Of mem, what the inventory's key sample and the last Sample hold.
	invHeld, rowsHeld int64
	// keys are the key names the inventory's SCAN saw, by database and
	// pattern: Sample reads its keys from them.
	keys    map[int]map[string][]string
	sampled int // tables sampled, against maxSampledTables
}

// trace prints every command's name and time to standard error
// (LEAKHOUND_TRACE=1); arguments are key names, never values.
var trace = os.Getenv("LEAKHOUND_TRACE") == "1"

func (s *Session) connect(ctx context.Context) error {
	c, err := dial(ctx, s.svc.Endpoint, s.svc.TLS, s.timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", s.svc.Endpoint, err)
	}
	s.c, s.db = c, 0
	return nil
}

// Close implements datastore.Session.
func (s *Session) Close() error {
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	s.c = nil
	return err
}

// caps are the session's reply caps, charging its budget.
func (s *Session) caps() caps {
	c := defaultCaps
	c.charge = s.mem.charge
	return c
}

// run sends cmds in one pipeline, reconnecting first if an earlier reply
// broke the connection; a connection that fails mid-reply is dropped (the
// rest of the reply is still in flight).
func (s *Session) run(ctx context.Context, cmds ...[]string) ([]reply, error) {
	if s.c == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	out, err := s.c.pipeline(ctx, s.caps(), cmds...)
	if trace {
		fmt.Fprintf(os.Stderr, "trace: %s %6dms %d commands, first %s err=%v\n", s.svc.Endpoint, time.Since(start).Milliseconds(), len(cmds), cmds[0][0], err)
	}
	if err != nil && !errors.Is(err, errNotReadOnly) {
		s.c.Close()
		s.c = nil
	}
	return out, err
}

// one runs one command; an error reply is returned as a *replyError.
func (s *Session) one(ctx context.Context, args ...string) (reply, error) {
	out, err := s.run(ctx, args)
	if err != nil {
		return reply{}, err
	}
	if out[0].isErr() {
		return out[0], &replyError{out[0].str}
	}
	return out[0], nil
}

// selectDB makes db the connection's database.
func (s *Session) selectDB(ctx context.Context, db int) error {
	if s.c != nil && s.db == db {
		return nil
	}
	if _, err := s.one(ctx, "SELECT", strconv.Itoa(db)); err != nil {
		return fmt.Errorf("SELECT %d: %w", db, err)
	}
	s.db = db
	return nil
}

// info reads one INFO section as fields.
func (s *Session) info(ctx context.Context, section string) (map[string]string, error) {
	r, err := s.one(ctx, "INFO", section)
	if err != nil {
		return nil, err
	}
	if r.kind != '$' || r.null {
		return nil, fmt.Errorf("INFO %s: a %q reply, want a bulk string", section, r.kind)
	}
	return infoFields(r.str), nil
}

// ServerID implements datastore.Session: Redis names its process by
// run_id, new at every start; the start time is now minus the uptime.
func (s *Session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	f, err := s.info(ctx, "server")
	if err != nil {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: %w", s.svc.Endpoint, err)
	}
	runID := strings.TrimSpace(f["run_id"])
	if runID == "" {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: INFO server names no run_id", s.svc.Endpoint)
	}
	id := datastore.ServerID{Engine: "redis", Key: s.svc.Endpoint.IP.String() + "|" + clip(runID, 64)}
	if up, err := strconv.ParseInt(strings.TrimSpace(f["uptime_in_seconds"]), 10, 64); err == nil && up >= 0 && up < 100*365*86400 {
		id.Started = time.Now().Add(-time.Duration(up) * time.Second).Truncate(time.Second)
	}
	return id, nil
}

// Pushdown implements datastore.Session: Redis filters key names (SCAN
// MATCH, a glob), never values, and counts nothing but keys: the scanner
// classifies what Sample reads back, and sizes from that sample.
func (s *Session) Pushdown() datastore.Pushdown { return datastore.Pushdown{} }

// memBudget counts the bytes a session holds of what its server sent,
// against datastore.SessionMemory.
type memBudget struct {
	server string
	limit  int64
	held   int64
}

var errMemoryBudget = errors.New("memory budget exhausted")

func (m *memBudget) charge(n int64) error {
	if n < 0 || n > m.limit-m.held {
		return fmt.Errorf("%s sent more than the %d MiB leakhound holds of one server's answers: %w", m.server, m.limit>>20, errMemoryBudget)
	}
	m.held += n
	return nil
}

func (m *memBudget) reset(held int64) { m.held = held }
