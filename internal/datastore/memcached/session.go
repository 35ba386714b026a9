package memcached

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds of a session.
const (
	// maxDumpKeys and maxDumpBytes bound what the inventory reads of
	// lru_crawler metadump; past them the dump is cut and the counts per
	// pattern are scaled to curr_items.
	maxDumpKeys  = 200_000
	maxDumpBytes = 24 << 20
	// keptKeys is how many key names of each pattern are kept to sample.
	keptKeys = 200
	// maxPatterns bounds the patterns listed.
	maxPatterns = 500
	// valueCap is the most of one value read.
	valueCap = 64 << 10
	// getBatch is how many keys one get names.
	getBatch = 20
	// Database is the one database a server's inventory shows; the tables
	// are key patterns.
	Database = "keys"
	// OtherKeys is the pattern of keys with no prefix.
	OtherKeys = "(keys without a prefix)"
)

var _ datastore.Session = (*Session)(nil)

// Session is a text-protocol session on a Memcached server.
type Session struct {
	svc     *datastore.Service
	timeout time.Duration
	c       *conn
	// keys are the names the inventory kept of each pattern, to sample.
	keys              map[string][]item
	invHeld, rowsHeld int64
}

func (s *Session) connect(ctx context.Context) error {
	c, err := dial(ctx, s.svc.Endpoint.Addr(), s.timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", s.svc.Endpoint, err)
	}
	if _, err := c.version(ctx); err != nil {
		c.close()
		return fmt.Errorf("%s: version: %w", s.svc.Endpoint, err)
	}
	s.c = c
	return nil
}

// conn returns the session's connection, made again after one was left
// half read.
func (s *Session) conn(ctx context.Context) (*conn, error) {
	if s.c != nil && s.c.broken {
		s.c.close()
		s.c = nil
	}
	if s.c == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
	}
	return s.c, nil
}

// Close implements datastore.Session.
func (s *Session) Close() error {
	if s.c == nil {
		return nil
	}
	s.c.send("quit")
	err := s.c.close()
	s.c = nil
	return err
}

func (s *Session) charge(n int64) error {
	if n > datastore.SessionMemory-s.invHeld-s.rowsHeld {
		return fmt.Errorf("%s sent more than the %d MiB leakhound holds of one server's answers", s.svc.Endpoint, datastore.SessionMemory>>20)
	}
	return nil
}

func (s *Session) stats(ctx context.Context, arg string) (map[string]string, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	st, err := c.stats(ctx, arg)
	if err != nil {
		return nil, fmt.Errorf("%s: stats %s: %w", s.svc.Endpoint, arg, err)
	}
	return st, nil
}

// ServerID implements datastore.Session: memcached has no id; its
// process id, and its start (its clock minus its uptime), name it.
func (s *Session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	st, err := s.stats(ctx, "")
	if err != nil {
		return datastore.ServerID{}, err
	}
	if st["pid"] == "" {
		return datastore.ServerID{}, fmt.Errorf("%s: stats names no pid", s.svc.Endpoint)
	}
	id := datastore.ServerID{Engine: "memcached", Key: s.svc.Endpoint.Addr() + "|" + st["pid"]}
	now, err1 := strconv.ParseInt(st["time"], 10, 64)
	up, err2 := strconv.ParseInt(st["uptime"], 10, 64)
	if err1 == nil && err2 == nil && up >= 0 && now > up {
		id.Started = time.Unix(now-up, 0)
	}
	return id, nil
}

// Privileges implements datastore.Session. The text protocol has no
// authentication and no permissions: whoever can send "version" can send
// set, delete and flush_all. That is judged by construction, never tried.
// stats settings says whether "shutdown" is enabled (-A).
func (s *Session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	ev := "the text protocol answered without authentication, and it has no permissions: every command is open to whoever can connect"
	p := datastore.Privileges{Evidence: []string{ev}}
	fix := fixNetwork
	p.Capabilities = []datastore.Capability{
		{ID: "set", Granted: datastore.Yes, Impact: datastore.ImpactWrite, Evidence: ev,
			Summary:     "anyone can set, replace and delete keys and flush the whole cache (flush_all): sessions forged, cached pages poisoned",
			Remediation: fix},
		{ID: "settings", Granted: datastore.Yes, Impact: datastore.ImpactAdminister, Evidence: ev,
			Summary:     "anyone can change the server's settings at run time (verbosity, cache_memlimit, lru, slabs automove)",
			Remediation: fix},
	}
	shutdown := datastore.Capability{ID: "shutdown", Granted: datastore.Unknown, Impact: datastore.ImpactAdminister,
		Summary: "anyone can stop the server (shutdown, enabled by -A)", Remediation: "Do not start memcached with -A (--enable-shutdown)"}
	if st, err := s.stats(ctx, "settings"); err == nil {
		details := map[string]any{}
		for _, k := range []string{"auth_enabled_sasl", "auth_enabled_ascii", "shutdown_command", "dump_enabled"} {
			if v, ok := st[k]; ok {
				details[k] = v
			}
		}
		p.Details = details
		switch st["shutdown_command"] {
		case "yes":
			shutdown.Granted, shutdown.Evidence = datastore.Yes, "stats settings: shutdown_command yes"
		case "no":
			shutdown.Granted, shutdown.Evidence = datastore.No, "stats settings: shutdown_command no"
		default:
			shutdown.Evidence = "stats settings names no shutdown_command"
		}
	} else {
		shutdown.Evidence = "stats settings: " + err.Error()
	}
	p.Capabilities = append(p.Capabilities, shutdown)
	p.Readonly = p.ReadonlyByCapabilities()
	return p, nil
}

// Pushdown implements datastore.Session: memcached filters nothing.
func (s *Session) Pushdown() datastore.Pushdown { return datastore.Pushdown{} }

type pattern struct {
	name  string
	count int64
	bytes int64
	keys  []item
}

// Inventory implements datastore.Session: stats gives the items and bytes
// held; lru_crawler metadump lists the keys, read up to maxDumpKeys and
// maxDumpBytes within the timeout, and they are counted per pattern
// (datastore.KeyPrefix followed by "*"). A dump cut short is scaled to
// curr_items, and says so.
func (s *Session) Inventory(ctx context.Context) (inv datastore.Inventory, err error) {
	s.invHeld, s.keys = 0, nil
	keys := map[string][]item{}
	defer func() {
		if len(inv.Databases) > 0 {
			s.keys = keys
		}
	}()
	st, err := s.stats(ctx, "")
	if err != nil {
		return inv, err
	}
	items, bytesHeld := datastore.ParseCount(st["curr_items"]), datastore.ParseCount(st["bytes"])
	db := datastore.Database{Name: Database}
	pats, seen, complete, why, err := s.dump(ctx)
	if err != nil && ctx.Err() != nil {
		return inv, err
	}
	if why != "" {
		inv.Truncate(why)
	}
	if seen == 0 && items != 0 {
		// No key could be listed: the cache is one table of unknown keys.
		db.Tables = []datastore.Table{{Database: Database, Name: "*", Kind: "keys", Rows: items, RowsExact: items >= 0, Bytes: bytesHeld}}
		db.TableCount = 1
		inv.Databases = []datastore.Database{db}
		return inv, nil
	}
	scale := 1.0
	if !complete && items > seen && seen > 0 {
		scale = float64(items) / float64(seen)
	}
	for _, p := range pats {
		t := datastore.Table{Database: Database, Name: p.name, Kind: "keys", Rows: p.count, RowsExact: complete, Bytes: p.bytes}
		if scale != 1 {
			t.Rows, t.Bytes = int64(float64(p.count)*scale), int64(float64(p.bytes)*scale)
		}
		db.Tables = append(db.Tables, t)
		keys[p.name] = p.keys
	}
	db.TableCount = len(db.Tables)
	inv.Databases = []datastore.Database{db}
	return inv, nil
}

// dump reads lru_crawler metadump all, bounded, and groups the keys.
func (s *Session) dump(ctx context.Context) (pats []*pattern, seen int64, complete bool, why string, err error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, 0, false, "", err
	}
	defer c.arm(ctx)()
	if err := c.send("lru_crawler metadump all"); err != nil {
		c.broken = true
		return nil, 0, false, "", err
	}
	byName := map[string]*pattern{}
	var read int64
	for {
		l, err := c.line()
		if err != nil {
			c.broken = true
			if isTimeout(err) && seen > 0 {
				why = fmt.Sprintf("keys listed for %s: the first %d (metadump cut at the time limit)", s.timeout, seen)
				break
			}
			return nil, seen, false, fmt.Sprintf("keys could not be listed: metadump: %v", err), err
		}
		read += int64(len(l)) + 2
		if l == "END" {
			complete = true
			break
		}
		if se := serverError(l); se != nil || strings.HasPrefix(l, "BUSY") {
			// Dumping disabled (-X) or the crawler busy: no key names.
			return nil, 0, false, "keys could not be listed: lru_crawler metadump answered " + strconv.Quote(clip(l, 100)), nil
		}
		it, err := parseMetadump(l)
		if err != nil {
			c.broken = true
			return nil, seen, false, "keys could not be listed: " + err.Error(), err
		}
		seen++
		name := datastore.KeyPrefix(it.Key)
		if name == "" {
			name = OtherKeys
		} else {
			name += "*"
		}
		p := byName[name]
		if p == nil {
			if len(byName) == maxPatterns {
				continue // counted in seen, not listed
			}
			if err := s.charge(int64(len(name)) + 100); err != nil {
				c.broken = true
				why = err.Error()
				break
			}
			s.invHeld += int64(len(name)) + 100
			p = &pattern{name: name}
			byName[name] = p
		}
		p.count++
		if it.Size > 0 {
			p.bytes += it.Size
		}
		if len(p.keys) < keptKeys && fetchable(it.Key) {
			if err := s.charge(int64(len(it.Key)) + 48); err == nil {
				s.invHeld += int64(len(it.Key)) + 48
				p.keys = append(p.keys, it)
			}
		}
		if seen >= maxDumpKeys || read >= maxDumpBytes {
			c.broken = true // the rest of the dump is still coming
			why = fmt.Sprintf("keys listed: the first %d (metadump cut at %d keys or %d MiB); counts per pattern scaled to curr_items", seen, maxDumpKeys, maxDumpBytes>>20)
			break
		}
	}
	if len(byName) == maxPatterns {
		why = strings.TrimPrefix(why+"; ", "; ") + fmt.Sprintf("the first %d key patterns listed", maxPatterns)
	}
	for _, p := range byName {
		pats = append(pats, p)
	}
	sort.Slice(pats, func(i, j int) bool { return pats[i].name < pats[j].name })
	return pats, seen, complete, why, nil
}

// Sample implements datastore.Session: get of the first keys the dump
// listed under the pattern (lim.Random of them, and lim.Rows per filter,
// though memcached runs none; at most those kept), skipping values past valueCap, within the byte budget. Each key
// is a column and each record holds its key's value alone, so that a
// detection's location names the key.
func (s *Session) Sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	s.rowsHeld = 0
	out := datastore.Rows{}
	if t.Kind != "keys" {
		return out, nil
	}
	if s.keys == nil {
		// A session that made no inventory lists the keys first.
		if _, err := s.Inventory(ctx); err != nil {
			return out, fmt.Errorf("sampling %s: listing keys: %w", clip(t.Name, 80), err)
		}
	}
	keys := s.keys[t.Name]
	n := min(max(lim.Random, 0)+max(lim.Rows, 0)*(len(lim.Keywords)+len(lim.Patterns)), len(keys))
	if n == 0 {
		return out, nil
	}
	budget := lim.Bytes
	if budget <= 0 {
		budget = 16 << 20
	}
	var names []string
	for _, it := range keys[:n] {
		if it.Size > valueCap+1024 {
			out.Truncation = appendOnce(out.Truncation, fmt.Sprintf("values past %d bytes not read", valueCap))
			continue
		}
		names = append(names, it.Key)
	}
	for len(names) > 0 {
		if out.ReadBytes >= budget {
			out.Truncation = append(out.Truncation, fmt.Sprintf("the %d-byte budget ran out after %d keys", budget, out.ReadRows))
			break
		}
		b := min(len(names), getBatch)
		if err := s.get(ctx, names[:b], budget, &out); err != nil {
			return square(out), fmt.Errorf("sampling %s: %w", clip(t.Name, 80), err)
		}
		names = names[b:]
	}
	return square(out), nil
}

// get reads the values of keys into out.
func (s *Session) get(ctx context.Context, keys []string, budget int64, out *datastore.Rows) error {
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	defer c.arm(ctx)()
	if err := c.send("get " + strings.Join(keys, " ")); err != nil {
		c.broken = true
		return err
	}
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		out.ReadBytes += int64(len(l)) + 2
		if l == "END" {
			return nil
		}
		key, n, err := valueHead(l)
		if err != nil {
			c.broken = true
			return err
		}
		if n > valueCap || out.ReadBytes+n > budget+valueCap {
			// Leave the rest unread: the connection is dropped.
			c.broken = true
			out.Truncation = appendOnce(out.Truncation, fmt.Sprintf("a value of %d bytes not read (cap %d)", n, valueCap))
			return nil
		}
		cost := n + int64(len(key)) + 64 + 16*int64(len(out.Columns)+1)
		if err := s.charge(cost); err != nil {
			c.broken = true
			out.Truncation = append(out.Truncation, err.Error())
			return nil
		}
		v := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, v); err != nil {
			c.broken = true
			return err
		}
		if string(v[n:]) != "\r\n" {
			c.broken = true
			return fmt.Errorf("a value of %d bytes not followed by CRLF: %w", n, errProtocol)
		}
		s.rowsHeld += cost
		out.ReadBytes += n + 2
		out.ReadRows++
		out.Columns = append(out.Columns, key)
		out.Values = append(out.Values, []string{string(v[:n])})
	}
}

// square makes the records a square: record i holds key i's value in
// column i and nothing elsewhere.
func square(r datastore.Rows) datastore.Rows {
	n := len(r.Columns)
	for i := range r.Values {
		row := make([]string, n)
		row[i] = r.Values[i][0]
		r.Values[i] = row
	}
	return r
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// fixNetwork closes the exposure: memcached's text protocol cannot be
// given a password.
const fixNetwork = "Listen on internal addresses only (memcached -l 10.0.0.5, or -l 127.0.0.1 where the application runs on the same host) and firewall 11211 (TCP and UDP) from untrusted networks: the text protocol has no authentication"

// Remediation implements datastore.Session.
func (s *Session) Remediation(p datastore.Privileges) []string {
	return []string{
		fixNetwork,
		"Where clients must cross a network, require authentication: SASL (-S, binary protocol) or an ASCII auth file (-Y, memcached 1.5.15+), and TLS (-Z)",
		"Disable UDP (-U 0), which amplifies reflection attacks, and key dumps (-X) if no tool needs them",
		"Keep sessions, prompts and credentials out of a cache anyone on the network can read, or encrypt them before caching",
	}
}
