package mysql

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on sampling; a Sample's Limits narrow them.
const (
	valueByteCap = 8192 // bytes of one value read back
	valueChars   = valueByteCap / 4
	// searchRows is how many rows of a table, drawn at random, the server
	// searches for every keyword and pattern at once: hundreds of LOCATE()s
	// a row cost about 0.1 ms, so the whole of a large table would take
	// minutes. Keys found there are then counted over at most countRows
	// rows, again drawn at random and the counts scaled to the table's
	// size: an estimate, said so, in seconds instead of tens of them.
	searchRows = 20000
	countRows  = 100000
	// examineRows bounds what MariaDB examines (LIMIT … ROWS EXAMINED) to
	// fetch the rows holding a key.
	examineRows      = 2_000_000
	maxSampledTables = 200
	maxQueryText     = 256 << 10
)

// textType reports whether a column holds free text Sample reads.
func textType(typ string) bool {
	t := strings.ToLower(typ)
	for _, p := range []string{"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json"} {
		if t == p || strings.HasPrefix(t, p+"(") || strings.HasPrefix(t, p+" ") {
			return true
		}
	}
	return false
}

func textColumns(t datastore.Table) []datastore.Column {
	var out []datastore.Column
	for _, c := range t.Columns {
		if textType(c.Type) {
			out = append(out, c)
		}
	}
	return out
}

// Sample implements datastore.Session. Inside a read-only transaction the
// server searches a bounded prefix of the table for every keyword
// (LOCATE on the bytes of every text column joined) and pattern (REGEXP),
// counts the keys it found over the whole table, counts each exact rule
// over the rows holding its keywords, and returns up to lim.Rows rows per
// key found (rarest first) and lim.Random rows at random. Rows it returns
// are held in the session's memory budget until the next Sample.
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
	cols := textColumns(t)
	if t.Kind != "table" || !localEngine(t.Engine) || len(cols) == 0 {
		return out, nil
	}
	if s.sampled >= maxSampledTables {
		return out, fmt.Errorf("%s not sampled (at most %d tables a session): %w", t.QualifiedName(), maxSampledTables, datastore.ErrSessionCap)
	}
	s.sampled++
	from := quoteIdent(t.Database) + "." + quoteIdent(t.Name)
	var heads, ids []string
	for _, c := range cols {
		out.Columns = append(out.Columns, c.Name)
		heads = append(heads, fmt.Sprintf("LEFT(%s, %d)", quoteIdent(c.Name), valueChars))
		ids = append(ids, quoteIdent(c.Name))
	}
	// The haystack: every text column's bytes joined by newlines, so that
	// LOCATE and REGEXP are case-sensitive, as the rules are.
	hay := "CAST(CONCAT_WS(X'0a', " + strings.Join(ids, ", ") + ") AS BINARY)"
	budget := lim.Bytes
	if budget <= 0 {
		budget = 32 << 20
	}
	initial := budget
	perKey := max(lim.Rows, 1)
	if _, err := s.q(ctx, "START TRANSACTION READ ONLY", 1, 4096); err != nil {
		return out, fmt.Errorf("%s: START TRANSACTION READ ONLY: %w", t.QualifiedName(), err)
	}
	defer func() {
		if s.w != nil { // a connection dropped mid-answer took its transaction with it
			s.q(context.WithoutCancel(ctx), "ROLLBACK", 1, 4096)
		}
	}()

	type key struct {
		name string // the keyword or pattern, as Limits named it
		cond string // true where a row holds it
	}
	var keys []key
	for _, k := range lim.Keywords {
		if k != "" {
			keys = append(keys, key{k, fmt.Sprintf("LOCATE(%s, leakhound_h) > 0", hexLit(k))})
		}
	}
	for _, p := range lim.Patterns {
		if p != "" {
			keys = append(keys, key{p, fmt.Sprintf("%s REGEXP %s", regexSubject, strLit(p))})
		}
	}
	if len(keys) > 0 {
		// 1. Which keys occur, in a bounded random sample of rows (a
		// prefix would be the oldest rows only).
		prefix := fmt.Sprintf("(SELECT %s AS leakhound_h FROM %s%s LIMIT %d) leakhound_x", hay, from, randomRows(t.Rows, searchRows), searchRows)
		found := map[string]int64{}
		searched := int64(-1) // rows the search read
		for _, batch := range datastore.Batches(keys, func(k key) int { return len(k.cond) + 40 }, maxQueryText) {
			sums := make([]string, len(batch))
			for i, k := range batch {
				sums[i] = fmt.Sprintf("SUM(%s)", k.cond)
			}
			row, _, err := s.one(ctx, s.limited("SELECT COUNT(*), "+strings.Join(sums, ", ")+" FROM "+prefix, lim.Timeout))
			if err != nil {
				out.Truncation = append(out.Truncation, fmt.Sprintf("search of the first %d rows failed for %d keys: %v", searchRows, len(batch), err))
				continue
			}
			if len(row) > 0 {
				searched = datastore.ParseCount(row[0])
				row = row[1:]
			}
			for i, k := range batch {
				if i < len(row) {
					if n := datastore.ParseCount(row[i]); n > 0 {
						found[k.name] = n
					}
				}
			}
		}
		if searched >= searchRows && t.Rows >= 0 && t.Rows <= searchRows {
			// The estimate said the search would read the whole table,
			// but the table holds more (TABLE_ROWS can be a day stale).
			out.Truncation = append(out.Truncation, fmt.Sprintf("keys counted in the first %d rows only: the table holds more than its estimate of %d rows", searchRows, t.Rows))
		}
		var present []key
		for _, k := range keys {
			if found[k.name] > 0 {
				present = append(present, k)
				out.Counts[k.name] = found[k.name]
			}
		}
		// 2. Those keys counted over the whole table, or over a random
		// countRows of a larger one and scaled, where time allows.
		counted, scale := from, 1.0
		if t.Rows > countRows {
			counted, scale = from+randomRows(t.Rows, countRows), float64(t.Rows)/countRows
			out.Estimated = true
			out.Truncation = append(out.Truncation, fmt.Sprintf("counts estimated from a random %d of about %d rows, scaled", countRows, t.Rows))
		}
		if len(present) > 0 && (t.Rows < 0 || t.Rows > searchRows) {
			sums := make([]string, len(present))
			for i, k := range present {
				sums[i] = fmt.Sprintf("SUM(%s)", k.cond)
			}
			row, _, err := s.one(ctx, s.limited(fmt.Sprintf("SELECT %s FROM (SELECT %s AS leakhound_h FROM %s) leakhound_x", strings.Join(sums, ", "), hay, counted), lim.Timeout))
			if err == nil && len(row) == len(present) {
				for i, k := range present {
					if n := scaled(datastore.ParseCount(row[i]), scale); n >= out.Counts[k.name] {
						out.Counts[k.name] = n
					}
				}
			} else {
				out.Truncation = append(out.Truncation, fmt.Sprintf("keys counted in %d rows only: counting more failed: %v", searchRows, err))
			}
		}
		// 3. Exact rules, counted over the rows holding their keywords.
		s.countExact(ctx, &out, hay, counted, scale, lim.Exact, lim.Timeout)
		// 4. Rows holding each key, rarest first.
		slices.SortStableFunc(present, func(a, b key) int { return int(min(max(out.Counts[a.name]-out.Counts[b.name], -1), 1)) })
		seen := map[string]bool{}
		// Keywords of rules fetched by value fetch one row of their own.
		var distinct []string
		covered := map[string]bool{}
		if len(lim.Distinct) > 0 && s.groupsByValue() {
			distinct, covered = byValue(lim, &out)
		}
		rowsOf := func(k key) int {
			if covered[k.name] {
				return 1
			}
			return perKey
		}
		for _, batch := range datastore.Batches(present, func(k key) int { return len(k.cond) + 60 + 20*len(heads) }, maxQueryText) {
			if budget <= 0 {
				break
			}
			parts := make([]string, len(batch))
			for i, k := range batch {
				parts[i] = fmt.Sprintf("(SELECT %d, %s FROM (SELECT %s, %s AS leakhound_h FROM %s) leakhound_x WHERE %s LIMIT %d)",
					i, strings.Join(aliases(len(heads)), ", "), aliasedHeads(heads), hay, from, k.cond, rowsOf(k))
			}
			q := strings.Join(parts, " UNION ALL ")
			if s.mariadb {
				q += fmt.Sprintf(" LIMIT %d ROWS EXAMINED %d", len(batch)*perKey, examineRows)
			}
			res, err := s.q(ctx, s.limited(q, lim.Timeout), len(batch)*perKey, budget)
			if err != nil {
				out.Truncation = append(out.Truncation, fmt.Sprintf("rows holding %d keys not read: %v", len(batch), err))
				continue
			}
			budget -= res.Bytes
			out.ReadBytes = datastore.AddCount(out.ReadBytes, res.Bytes)
			if res.Cut != "" {
				out.Truncation = append(out.Truncation, "rows holding keys: "+res.Cut)
			}
			per := map[int]int{}
			for _, r := range res.Rows {
				i, err := strconv.Atoi(r[0])
				if len(r) != 1+len(heads) || err != nil || i < 0 || i >= len(batch) || per[i] >= rowsOf(batch[i]) {
					continue
				}
				per[i]++
				id := strings.Join(r[1:], "\x00")
				if !seen[id] {
					seen[id] = true
					out.Values = append(out.Values, r[1:])
					out.ReadRows++
				}
			}
		}
		// 5. Rows by the distinct values of rules' patterns.
		if len(distinct) > 0 {
			s.distinct(ctx, &out, hay, from, heads, lim, distinct, perKey, &budget, seen)
		}
	}
	// 6. Rows at random.
	if lim.Random > 0 && budget > 0 {
		p := 1.0
		if t.Rows > int64(lim.Random)*10 {
			p = float64(lim.Random*10) / float64(t.Rows)
		}
		q := fmt.Sprintf("SELECT %s FROM %s WHERE RAND() < %g LIMIT %d", strings.Join(heads, ", "), from, p, lim.Random)
		if s.mariadb {
			q += fmt.Sprintf(" ROWS EXAMINED %d", examineRows)
		}
		res, err := s.q(ctx, s.limited(q, lim.Timeout), lim.Random, budget)
		if err != nil {
			out.Truncation = append(out.Truncation, "random rows not read: "+err.Error())
		} else {
			budget -= res.Bytes
			out.ReadBytes = datastore.AddCount(out.ReadBytes, res.Bytes)
			for _, r := range res.Rows {
				if len(r) == len(heads) {
					out.Values = append(out.Values, r)
					out.ReadRows++
				}
			}
		}
	}
	if budget <= 0 {
		out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", initial))
	}
	return out, nil
}

// limited gives one statement a time limit shorter than the session's:
// MariaDB's SET STATEMENT … FOR, MySQL's MAX_EXECUTION_TIME hint (which
// MySQL reads only in a statement's first SELECT).
func (s *Session) limited(q string, d time.Duration) string {
	if d <= 0 || d >= s.timeout || s.noServerLimit {
		return q
	}
	if s.mariadb {
		return fmt.Sprintf("SET STATEMENT max_statement_time = %.3f FOR %s", d.Seconds(), q)
	}
	if rest, ok := strings.CutPrefix(q, "SELECT "); ok {
		return fmt.Sprintf("SELECT /*+ MAX_EXECUTION_TIME(%d) */ %s", d.Milliseconds(), rest)
	}
	return q
}

func aliases(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("leakhound_c%d", i)
	}
	return out
}

func aliasedHeads(heads []string) string {
	out := make([]string, len(heads))
	for i, h := range heads {
		out[i] = fmt.Sprintf("%s AS leakhound_c%d", h, i)
	}
	return strings.Join(out, ", ")
}

// countExact counts, for each exact rule one of whose keywords was found,
// the rows matching its pattern among the rows holding a keyword: the
// server filters with LOCATE and runs REGEXP on the few rows left.
func (s *Session) countExact(ctx context.Context, out *datastore.Rows, hay, from string, scale float64, exact map[string]datastore.Match, timeout time.Duration) {
	var names []string
	for n, m := range exact {
		if slices.ContainsFunc(m.Keywords, func(k string) bool { return out.Counts[k] > 0 }) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, batch := range datastore.Batches(names, func(n string) int { return 2*len(exact[n].Pattern) + 80 + 40*len(exact[n].Keywords) }, maxQueryText) {
		if ctx.Err() != nil {
			return
		}
		var filter, sums []string
		for _, n := range batch {
			for _, k := range exact[n].Keywords {
				c := fmt.Sprintf("LOCATE(%s, leakhound_h) > 0", hexLit(k))
				if out.Counts[k] > 0 && !slices.Contains(filter, c) {
					filter = append(filter, c)
				}
			}
			sums = append(sums, fmt.Sprintf("SUM(%s REGEXP %s)", regexSubject, strLit(exact[n].Pattern)))
		}
		row, _, err := s.one(ctx, s.limited(fmt.Sprintf("SELECT %s FROM (SELECT %s AS leakhound_h FROM %s) leakhound_x WHERE %s",
			strings.Join(sums, ", "), hay, from, strings.Join(filter, " OR ")), timeout))
		if err != nil {
			out.Truncation = append(out.Truncation, fmt.Sprintf("%d rules not counted exactly: %v", len(batch), err))
			continue
		}
		for i, n := range batch {
			if i < len(row) && datastore.ParseCount(row[i]) >= 0 {
				out.Counts[n] = scaled(datastore.ParseCount(row[i]), scale)
			}
		}
	}
}

// randomRows is a WHERE clause keeping about n of a table's rows rows at
// random, or "" when the table holds no more than n (or its size is
// unknown). RAND() costs little beside the LOCATE()s it spares.
func randomRows(rows, n int64) string {
	if rows <= n || n <= 0 {
		return ""
	}
	return fmt.Sprintf(" WHERE RAND() < %g", float64(n)/float64(rows))
}

// scaled is a count made over a sample, scaled to the whole table.
func scaled(n int64, scale float64) int64 {
	if scale <= 1 || n <= 0 {
		return n
	}
	f := float64(n) * scale
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(math.Round(f))
}

// regexSubject is the haystack as REGEXP must see it: characters, not
// bytes. On a binary string PCRE2 runs without UTF mode and refuses the
// \x{…} escapes above 0xFF that translated patterns hold (error 1139);
// the binary collation keeps the match case-sensitive, as the rules are.
const regexSubject = "CONVERT(leakhound_h USING utf8mb4) COLLATE utf8mb4_bin"
