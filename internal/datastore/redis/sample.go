package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on sampling; a Sample's Limits narrow them.
const (
	valueByteCap     = 8192 // bytes of one string value read (GETRANGE)
	itemsPerKey      = 20   // elements of a list, set, sorted set or stream read
	maxColumns       = 64   // hash fields kept as columns of one pattern
	maxFieldName     = 128
	pipelineKeys     = 25 // keys read per round trip
	maxSampledTables = 1000
)

// field is one named value read from a key.
type field struct{ name, value string }

// readCommand is the bounded read of a key of type typ, nil for a type
// not read (module types, or none).
func readCommand(key, typ string, valueCap int) []string {
	switch typ {
	case "string":
		return []string{"GETRANGE", key, "0", strconv.Itoa(valueCap - 1)}
	case "hash":
		return []string{"HSCAN", key, "0", "COUNT", strconv.Itoa(maxColumns)}
	case "list":
		return []string{"LRANGE", key, "0", strconv.Itoa(itemsPerKey - 1)}
	case "set":
		return []string{"SSCAN", key, "0", "COUNT", strconv.Itoa(itemsPerKey)}
	case "zset":
		return []string{"ZRANGE", key, "0", strconv.Itoa(itemsPerKey - 1), "WITHSCORES"}
	case "stream":
		return []string{"XRANGE", key, "-", "+", "COUNT", strconv.Itoa(itemsPerKey)}
	}
	return nil
}

// fields turns a reply to readCommand into named values, each cut at
// valueCap bytes.
func fields(typ string, r reply, valueCap int) []field {
	cut := func(s string) string {
		if len(s) > valueCap {
			return s[:valueCap]
		}
		return s
	}
	var out []field
	switch typ {
	case "string":
		if r.kind == '$' && !r.null {
			out = append(out, field{"value", cut(r.str)})
		}
	case "hash":
		if r.kind == '*' && len(r.arr) == 2 {
			kv := r.arr[1].arr
			for i := 0; i+1 < len(kv); i += 2 {
				out = append(out, field{clip(kv[i].str, maxFieldName), cut(kv[i+1].str)})
			}
		}
	case "list", "set", "zset":
		items := r.arr
		if typ == "set" && len(r.arr) == 2 {
			items = r.arr[1].arr
		}
		var b strings.Builder
		for i, it := range items {
			if i >= itemsPerKey*2 || b.Len() >= valueCap {
				break
			}
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(it.text())
		}
		name := "items"
		if typ != "list" {
			name = "members"
		}
		if len(items) > 0 {
			out = append(out, field{name, cut(b.String())})
		}
	case "stream":
		var b strings.Builder
		for i, e := range r.arr {
			if len(e.arr) != 2 || b.Len() >= valueCap {
				continue
			}
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(e.arr[0].str)
			for _, x := range e.arr[1].arr {
				b.WriteByte(' ')
				b.WriteString(x.str)
			}
		}
		if len(r.arr) > 0 {
			out = append(out, field{"entries", cut(b.String())})
		}
	}
	return out
}

// readKey reads one key of type typ, bounded.
func (s *Session) readKey(ctx context.Context, key, typ string, valueCap int) ([]string, int64, error) {
	cmd := readCommand(key, typ, valueCap)
	if cmd == nil {
		return nil, 0, nil
	}
	r, err := s.one(ctx, cmd...)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	var n int64
	for _, f := range fields(typ, r, valueCap) {
		out = append(out, f.value)
		n += int64(len(f.value))
	}
	return out, n, nil
}

// Sample implements datastore.Session: up to lim.Random keys of the
// pattern, from the inventory's SCAN (or a bounded SCAN MATCH when the
// inventory did not see it), each one row: its name, then what it holds,
// read bounded (GETRANGE of the first 8 KB of a string, one HSCAN of a
// hash, the first 20 elements of a list, set, sorted set or stream).
// Redis filters no values, so no keyword reaches it: the scanner
// classifies what comes back. Rows are held in the session's memory
// budget until the next Sample.
func (s *Session) Sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	s.rowsHeld = 0
	s.mem.reset(s.invHeld)
	rows, err := s.sample(ctx, t, lim)
	var held int64
	for _, r := range rows.Values {
		held += 24
		for _, v := range r {
			held += 16 + int64(len(v))
		}
	}
	s.rowsHeld = held
	s.mem.reset(s.invHeld + s.rowsHeld)
	return rows, err
}

func (s *Session) sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	out := datastore.Rows{Counts: map[string]int64{}}
	n, err := strconv.Atoi(strings.TrimPrefix(t.Database, "db"))
	if !strings.HasPrefix(t.Database, "db") || err != nil || n < 0 || lim.Random <= 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if s.sampled >= maxSampledTables {
		return out, fmt.Errorf("%s not sampled (at most %d key patterns a session): %w", t.QualifiedName(), maxSampledTables, datastore.ErrSessionCap)
	}
	s.sampled++
	if lim.Timeout > 0 && lim.Timeout < s.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
		defer cancel()
	}
	if err := s.selectDB(ctx, n); err != nil {
		return out, fmt.Errorf("%s: %w", t.QualifiedName(), err)
	}
	keys, ok := s.keys[n][t.Name]
	if !ok && t.Name != otherPattern {
		if keys, err = s.scanMatch(ctx, t.Name, lim.Random); err != nil {
			return out, fmt.Errorf("%s: %w", t.QualifiedName(), err)
		}
	}
	if len(keys) > lim.Random {
		keys = spread(keys, lim.Random)
	}
	budget := lim.Bytes
	if budget <= 0 {
		budget = 16 << 20
	}
	valueCap := int(min(int64(valueByteCap), max(budget, 1)))
	out.Columns = []string{"key"}
	col := map[string]int{"key": 0}
	for start := 0; start < len(keys) && budget > 0; start += pipelineKeys {
		batch := keys[start:min(start+pipelineKeys, len(keys))]
		cmds := make([][]string, len(batch))
		for i, k := range batch {
			cmds[i] = []string{"TYPE", k}
		}
		types, err := s.run(ctx, cmds...)
		if err != nil {
			return out, fmt.Errorf("%s: TYPE: %w", t.QualifiedName(), err)
		}
		var reads [][]string
		var which []int
		for i, ty := range types {
			if c := readCommand(batch[i], ty.str, valueCap); ty.kind == '+' && c != nil {
				reads = append(reads, c)
				which = append(which, i)
			}
		}
		if len(reads) == 0 {
			continue
		}
		replies, err := s.run(ctx, reads...)
		if err != nil {
			return out, fmt.Errorf("%s: reading keys: %w", t.QualifiedName(), err)
		}
		for j, r := range replies {
			if budget <= 0 {
				break
			}
			i := which[j]
			if r.isErr() { // the key changed type or went away meanwhile
				continue
			}
			row := map[int]string{0: batch[i]}
			read := int64(len(batch[i]))
			for _, f := range fields(types[i].str, r, valueCap) {
				c, ok := col[f.name]
				if !ok {
					if len(out.Columns) >= maxColumns {
						c, ok = col["<other fields>"]
						if !ok {
							c = len(out.Columns)
							col["<other fields>"] = c
							out.Columns = append(out.Columns, "<other fields>")
						}
						f.value = f.name + "=" + f.value
					} else {
						c = len(out.Columns)
						col[f.name] = c
						out.Columns = append(out.Columns, f.name)
					}
				}
				if row[c] != "" {
					row[c] += "\n"
				}
				row[c] += f.value
				read += int64(len(f.value))
			}
			budget -= read
			out.ReadBytes = datastore.AddCount(out.ReadBytes, read)
			out.ReadRows++
			vals := make([]string, len(out.Columns))
			for c, v := range row {
				vals[c] = v
			}
			out.Values = append(out.Values, vals)
		}
	}
	// Rows read before a column was added are short of it.
	for i, r := range out.Values {
		for len(r) < len(out.Columns) {
			r = append(r, "")
		}
		out.Values[i] = r
	}
	if budget <= 0 {
		out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", lim.Bytes))
	}
	return out, nil
}

// scanMatch finds up to want keys of pattern p with a bounded SCAN MATCH.
func (s *Session) scanMatch(ctx context.Context, p string, want int) ([]string, error) {
	var keys []string
	cursor := "0"
	for round := 0; round < scanRounds && len(keys) < want; round++ {
		r, err := s.one(ctx, "SCAN", cursor, "MATCH", glob(p), "COUNT", strconv.Itoa(scanCount))
		if err != nil {
			return keys, fmt.Errorf("SCAN MATCH: %w", err)
		}
		if r.kind != '*' || len(r.arr) != 2 {
			return keys, fmt.Errorf("SCAN MATCH: a reply that is not [cursor, keys]")
		}
		for _, k := range r.arr[1].arr {
			if len(keys) < want && !k.cut && pattern(k.str) == p {
				keys = append(keys, k.str)
			}
		}
		if cursor = r.arr[0].str; cursor == "0" {
			break
		}
	}
	return keys, nil
}
