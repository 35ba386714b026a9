package redis

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on what an inventory reads, whatever the server holds.
const (
	maxDatabases = 256 // databases listed from INFO keyspace
	// scanCount and scanRounds bound the SCAN of one database: a keyspace
	// of any size costs at most scanRounds round trips, reading about
	// scanRounds × scanCount key names (Redis treats COUNT as a hint; the
	// reply caps hold either way).
	scanCount  = 1000
	scanRounds = 5
	// maxSampleKeys are the key names kept of one database's SCAN.
	maxSampleKeys = 8000
	// maxPatterns are the key patterns listed per database; keys of
	// others are counted under "other".
	maxPatterns = 200
	// keptKeys are the key names kept per pattern for Sample.
	keptKeys = 200
	// sizedKeys are the keys per pattern whose MEMORY USAGE is asked for,
	// to estimate the pattern's bytes.
	sizedKeys  = 3
	maxKeyName = 1024 // bytes of a key name kept
)

// Inventory implements datastore.Session. Each database of INFO keyspace
// is one database ("db0", "db1", …) with its exact key count; its "tables"
// are the key patterns of a bounded SCAN (session:*, cache:prompt:*), each
// with the share of the sample it took, scaled to the database's keys: an
// estimate (RowsExact false) unless the SCAN read the whole keyspace.
// Bytes are the sampled keys' MEMORY USAGE, scaled the same way. Keys
// named like a ransom note are looked for by name in every database.
func (s *Session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	s.mem.reset(s.rowsHeld)
	s.keys = map[int]map[string][]string{}
	inv, err := s.inventory(ctx)
	held := int64(0)
	for _, byPattern := range s.keys {
		for p, ks := range byPattern {
			held += int64(len(p)) + 64
			for _, k := range ks {
				held += int64(len(k)) + 16
			}
		}
	}
	for _, db := range inv.Databases {
		for _, t := range db.Tables {
			held += int64(len(t.Name)) + 256
		}
	}
	s.invHeld = held
	s.mem.reset(s.invHeld + s.rowsHeld)
	return inv, err
}

type keyspace struct {
	db   int
	keys int64
}

func (s *Session) inventory(ctx context.Context) (datastore.Inventory, error) {
	var inv datastore.Inventory
	f, err := s.info(ctx, "keyspace")
	if err != nil {
		return inv, fmt.Errorf("%s: INFO keyspace: %w", s.svc.Endpoint, err)
	}
	var spaces []keyspace
	for k, v := range f {
		n, ok := strings.CutPrefix(k, "db")
		db, err := strconv.Atoi(n)
		if !ok || err != nil || db < 0 || db > math.MaxInt32 {
			continue
		}
		keys := int64(-1)
		for _, kv := range strings.Split(v, ",") {
			if c, ok := strings.CutPrefix(kv, "keys="); ok {
				keys = datastore.ParseCount(c)
			}
		}
		spaces = append(spaces, keyspace{db, keys})
	}
	sort.Slice(spaces, func(i, j int) bool { return spaces[i].db < spaces[j].db })
	if len(spaces) > maxDatabases {
		inv.Truncate(fmt.Sprintf("the first %d of %d databases listed", maxDatabases, len(spaces)))
		spaces = spaces[:maxDatabases]
	}
	for _, sp := range spaces {
		if err := ctx.Err(); err != nil {
			return inv, err
		}
		db, notes, err := s.database(ctx, sp)
		inv.Databases = append(inv.Databases, db)
		inv.RansomNotes = append(inv.RansomNotes, notes...)
		if err != nil {
			if ctx.Err() != nil {
				return inv, fmt.Errorf("%s: %s: %w", s.svc.Endpoint, db.Name, err)
			}
			inv.Truncate(fmt.Sprintf("%s: %v", db.Name, err))
		}
	}
	return inv, nil
}

// database lists one database's key patterns from a bounded SCAN.
func (s *Session) database(ctx context.Context, sp keyspace) (datastore.Database, []datastore.RansomNote, error) {
	name := "db" + strconv.Itoa(sp.db)
	out := datastore.Database{Name: name}
	if err := s.selectDB(ctx, sp.db); err != nil {
		return out, nil, err
	}
	var sample []string
	cursor, complete := "0", false
	for round := 0; round < scanRounds && len(sample) < maxSampleKeys; round++ {
		r, err := s.one(ctx, "SCAN", cursor, "COUNT", strconv.Itoa(scanCount))
		if isUnknownCommand(err) && round == 0 {
			// Before Redis 2.8: no SCAN, and KEYS * is never sent.
			if sample, err = s.randomKeys(ctx); err != nil {
				return out, nil, fmt.Errorf("RANDOMKEY: %w", err)
			}
			break
		}
		if err != nil {
			return out, nil, fmt.Errorf("SCAN: %w", err)
		}
		if r.kind != '*' || len(r.arr) != 2 || r.arr[1].kind != '*' {
			return out, nil, fmt.Errorf("SCAN: a reply that is not [cursor, keys]")
		}
		for _, k := range r.arr[1].arr {
			if len(sample) < maxSampleKeys && !k.cut {
				sample = append(sample, clip(k.str, maxKeyName))
			}
		}
		cursor = r.arr[0].str
		if cursor == "0" {
			complete = true
			break
		}
	}
	// SCAN may return a key twice; a share counts each once.
	sort.Strings(sample)
	sample = compact(sample)
	groups := map[string][]string{}
	var order []string
	for _, k := range sample {
		p := pattern(k)
		if _, ok := groups[p]; !ok {
			if len(order) >= maxPatterns {
				p = otherPattern
			}
			if _, ok := groups[p]; !ok {
				order = append(order, p)
			}
		}
		groups[p] = append(groups[p], k)
	}
	byPattern := map[string][]string{}
	s.keys[sp.db] = byPattern
	types, sizes := s.describe(ctx, order, groups)
	for _, p := range order {
		ks := groups[p]
		t := datastore.Table{Database: name, Name: p, Kind: "key pattern", Rows: int64(len(ks)), RowsExact: complete, Bytes: -1}
		if !complete && sp.keys >= 0 && len(sample) > 0 {
			t.Rows = int64(math.Round(float64(len(ks)) / float64(len(sample)) * float64(sp.keys)))
			t.Truncation = append(t.Truncation, fmt.Sprintf("keys estimated from a SCAN of %d of the database's %d keys: %d held this pattern", len(sample), sp.keys, len(ks)))
		}
		t.Engine = types[p]
		if n, ok := sizes[p]; ok {
			t.Bytes = int64(math.Round(n * float64(t.Rows)))
		}
		t.Columns = columnsOf(t.Engine)
		keep := ks
		if len(keep) > keptKeys {
			keep = spread(keep, keptKeys)
		}
		byPattern[p] = keep
		out.Tables = append(out.Tables, t)
	}
	out.TableCount = len(out.Tables)
	notes, err := s.ransomNotes(ctx, name, sample, sp.keys)
	return out, notes, err
}

const otherPattern = "(other keys)"

// randomKeys samples key names with RANDOMKEY, where SCAN is unknown:
// scanRounds pipelines of scanCount, each key drawn at random.
func (s *Session) randomKeys(ctx context.Context) ([]string, error) {
	cmds := make([][]string, scanCount)
	for i := range cmds {
		cmds[i] = []string{"RANDOMKEY"}
	}
	var keys []string
	for range scanRounds {
		out, err := s.run(ctx, cmds...)
		if err != nil {
			return keys, err
		}
		for _, r := range out {
			if r.kind == '$' && !r.null && !r.cut {
				keys = append(keys, clip(r.str, maxKeyName))
			}
		}
	}
	return keys, nil
}

// describe asks TYPE of each pattern's first key and MEMORY USAGE of its
// first sizedKeys keys, in one pipeline: the pattern's type, and its mean
// bytes per key.
func (s *Session) describe(ctx context.Context, order []string, groups map[string][]string) (map[string]string, map[string]float64) {
	types, sizes := map[string]string{}, map[string]float64{}
	var cmds [][]string
	type ask struct {
		p    string
		size bool
	}
	var asks []ask
	for _, p := range order {
		ks := groups[p]
		cmds = append(cmds, []string{"TYPE", ks[0]})
		asks = append(asks, ask{p, false})
		for _, k := range ks[:min(sizedKeys, len(ks))] {
			cmds = append(cmds, []string{"MEMORY", "USAGE", k, "SAMPLES", "5"})
			asks = append(asks, ask{p, true})
		}
	}
	if len(cmds) == 0 {
		return types, sizes
	}
	out, err := s.run(ctx, cmds...)
	if err != nil {
		return types, sizes
	}
	count := map[string]int{}
	total := map[string]int64{}
	for i, r := range out {
		a := asks[i]
		switch {
		case !a.size && r.kind == '+':
			types[a.p] = clip(r.str, 40)
		case a.size && r.kind == ':' && r.n >= 0:
			count[a.p]++
			total[a.p] = datastore.AddCount(total[a.p], r.n)
		}
	}
	for p, n := range count {
		sizes[p] = float64(total[p]) / float64(n)
	}
	return types, sizes
}

// columnsOf are the columns Sample gives a key of type typ: its name,
// then what it holds.
func columnsOf(typ string) []datastore.Column {
	cols := []datastore.Column{{Name: "key", Type: "key"}}
	switch typ {
	case "string":
		cols = append(cols, datastore.Column{Name: "value", Type: "string"})
	case "hash":
		cols = append(cols, datastore.Column{Name: "<field>", Type: "hash"})
	case "list":
		cols = append(cols, datastore.Column{Name: "items", Type: "list"})
	case "set":
		cols = append(cols, datastore.Column{Name: "members", Type: "set"})
	case "zset":
		cols = append(cols, datastore.Column{Name: "members", Type: "zset"})
	case "stream":
		cols = append(cols, datastore.Column{Name: "entries", Type: "stream"})
	}
	return cols
}

// ransomNoteKeys are the names wipers give the key they leave, looked for
// by name (TYPE) in every database: a database of a million keys holds its
// one note where no bounded SCAN would see it.
var ransomNoteKeys = []string{"READ_ME", "read_me", "README", "readme", "README_TO_RECOVER", "HOW_TO_RECOVER", "warning", "WARNING", "meow", "RECOVER_YOUR_DATA"}

// ransomNotes reads the keys named like a ransom note, among the well
// known names and the sampled ones, and keeps those whose text reads as a
// demand.
func (s *Session) ransomNotes(ctx context.Context, db string, sample []string, keys int64) ([]datastore.RansomNote, error) {
	names := append([]string(nil), ransomNoteKeys...)
	for _, k := range sample {
		if datastore.RansomName(k) && len(names) < 64 {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	names = compact(names)
	cmds := make([][]string, len(names))
	for i, n := range names {
		cmds[i] = []string{"TYPE", n}
	}
	types, err := s.run(ctx, cmds...)
	if err != nil {
		return nil, fmt.Errorf("looking for ransom notes: %w", err)
	}
	var notes []datastore.RansomNote
	for i, t := range types {
		if t.kind != '+' || t.str == "none" {
			continue
		}
		text, _, err := s.readKey(ctx, names[i], t.str, 4096)
		if err != nil {
			return notes, fmt.Errorf("reading %q: %w", clip(names[i], 64), err)
		}
		all := strings.Join(text, "\n")
		if datastore.RansomText(all) {
			notes = append(notes, datastore.RansomNote{Database: db, Name: names[i], Text: datastore.RedactNote(all)})
		}
	}
	return notes, nil
}

// pattern is a key's pattern: its segments (split at ':', '/' and '.')
// that look like identifiers replaced by '*'. A key of no such segment is
// its own pattern.
func pattern(key string) string {
	var b strings.Builder
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && !strings.ContainsRune(":/.|", rune(key[i])) {
			continue
		}
		seg := key[start:i]
		if idLike(seg) {
			b.WriteByte('*')
		} else {
			b.WriteString(seg)
		}
		if i < len(key) {
			b.WriteByte(key[i])
		}
		start = i + 1
	}
	return b.String()
}

// idLike reports whether a key segment is an identifier rather than a
// name: a number, hex of 8 or more, a UUID, or 12 or more characters
// mixing letters and digits (base64, ULIDs, tokens).
func idLike(seg string) bool {
	if seg == "" {
		return false
	}
	digits, hex, alnum, other := 0, 0, 0, 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			hex++
			alnum++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			hex++
			alnum++
		case c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z':
			alnum++
		case c == '-' || c == '_' || c == '=' || c == '+':
			other++
		default:
			return false
		}
	}
	n := len(seg)
	switch {
	case digits == n:
		return true
	case hex+other == n && hex >= 8 && digits > 0:
		return true
	case alnum+other == n && n >= 12 && digits > 0:
		return true
	}
	return false
}

// glob is key pattern p as a SCAN MATCH glob: its '*' segments stay
// wildcards, every other byte matches itself.
func glob(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		star := c == '*' && (i == 0 || strings.IndexByte(":/.|", p[i-1]) >= 0) && (i == len(p)-1 || strings.IndexByte(":/.|", p[i+1]) >= 0)
		if star {
			b.WriteByte('*')
			continue
		}
		if strings.IndexByte(`*?[]\^`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

func compact(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// spread keeps n of xs, evenly spaced.
func spread(xs []string, n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, xs[i*len(xs)/n])
	}
	return out
}
