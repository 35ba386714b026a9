package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on a Sample.
const (
	// scanRows is the most rows of a table one search reads: a larger
	// table is searched through a TABLESAMPLE of its pages cut to this.
	// PostgreSQL's search is slow (600 keywords over 10,000 rows take
	// about 1.4 s on the lab), so a search reads few rows.
	scanRows = 10000
	// randomPool is the most rows random rows are drawn from.
	randomPool = 10000
	maxKeys    = 64       // keys (keywords, patterns) whose rows are fetched
	maxQuery   = 64 << 10 // bytes of keywords in one query
)

// textLike reports whether a column of this type (format_type's text)
// holds free text: text, varchar, char, json, jsonb, xml, citext and
// arrays of them, all read back as text.
func textLike(typ string) bool {
	base := strings.TrimSuffix(typ, "[]")
	if i := strings.IndexByte(base, '('); i > 0 {
		base = base[:i]
	}
	switch strings.TrimSpace(base) {
	case "text", "character varying", "character", "json", "jsonb", "xml", "citext", "varchar", "bpchar":
		return true
	}
	return false
}

// textColumns are the columns of t that Sample reads.
func textColumns(t datastore.Table) []datastore.Column {
	var out []datastore.Column
	for _, c := range t.Columns {
		if textLike(c.Type) {
			out = append(out, c)
		}
	}
	return out
}

// Sample implements datastore.Session. In a read-only transaction with a
// statement timeout, over at most scanRows rows of the table (a
// TABLESAMPLE of its pages when it holds more), the server counts the rows
// holding each keyword (one regular expression of them all, each match
// named) and each pattern, and the exact matches of lim.Exact; then it
// returns up to lim.Rows rows per keyword or pattern found, rarest first,
// and lim.Random rows drawn at random. Values are read as text, each cut
// at valueByteCap bytes.
func (s *session) Sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	out := datastore.Rows{Counts: map[string]int64{}}
	s.held -= s.rowsHeld
	s.rowsHeld = 0
	if !sampleable(t) || s.unreadable[tableKey(t.Database, t.Path, t.Name)] {
		return out, nil
	}
	cols := textColumns(t)
	if len(cols) == 0 {
		return out, nil
	}
	if s.perTable >= maxPerTable {
		return out, fmt.Errorf("%s not sampled (at most %d per-table queries a session): %w", t.QualifiedName(), maxPerTable, datastore.ErrSessionCap)
	}
	s.perTable++
	timeout := s.timeout
	if lim.Timeout > 0 {
		timeout = lim.Timeout
	}
	budget := lim.Bytes
	if budget <= 0 {
		budget = queryByteCap
	}
	sp := &sampler{s: s, t: t, out: &out, timeout: timeout, budget: budget, perKey: max(lim.Rows, 1)}
	for _, c := range cols {
		out.Columns = append(out.Columns, c.Name)
	}
	sp.src = sp.source(cols)
	err := sp.run(ctx, lim)
	if sp.budget <= 0 {
		out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", budget))
	}
	s.held += s.rowsHeld
	if err != nil {
		return out, fmt.Errorf("sampling %s: %w", t.QualifiedName(), err)
	}
	return out, nil
}

// sampler is one Sample's state.
type sampler struct {
	s       *session
	t       datastore.Table
	out     *datastore.Rows
	timeout time.Duration
	budget  int64
	perKey  int
	sampled bool   // src reads a TABLESAMPLE of the table's pages
	src     string // FROM clause: c0…cN (each column as text) and h (them all, joined by newlines)
	heads   string // the columns read back, each cut at valueByteCap
	seen    map[string]bool
}

// source builds the bounded relation every query of the Sample reads.
func (sp *sampler) source(cols []datastore.Column) string {
	var sel, hay, heads []string
	for i, c := range cols {
		e := quoteIdent(c.Name) + "::text"
		sel = append(sel, fmt.Sprintf("%s AS c%d", e, i))
		hay = append(hay, e)
		heads = append(heads, fmt.Sprintf("left(c%d, %d)", i, valueByteCap))
	}
	sp.heads = strings.Join(heads, ", ")
	from := qualified(sp.t)
	if sp.t.Rows > scanRows {
		pct := float64(scanRows) * 100 / float64(sp.t.Rows)
		from += fmt.Sprintf(" TABLESAMPLE SYSTEM (%s) REPEATABLE (42)", samplePercent(pct))
		sp.sampled = true
	} else if sp.t.Rows < 0 {
		sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf("searched at most the first %d rows (the table's size is unknown)", scanRows))
	}
	return fmt.Sprintf("(SELECT %s, concat_ws(chr(10), %s) AS h FROM %s LIMIT %d) s", strings.Join(sel, ", "), strings.Join(hay, ", "), from, scanRows)
}

// query runs one query of the Sample, charging its bytes to the budget.
func (sp *sampler) query(ctx context.Context, sql string, maxRows int) (*result, error) {
	if sp.budget <= 0 {
		return nil, nil
	}
	c, err := sp.s.in(ctx, sp.t.Database)
	if err != nil {
		return nil, err
	}
	res, err := c.query(ctx, sql, sp.timeout, maxRows, min(sp.budget, datastore.SessionMemory-sp.s.held-sp.s.rowsHeld))
	if res != nil {
		sp.budget -= res.bytes
		sp.out.ReadBytes = datastore.AddCount(sp.out.ReadBytes, res.bytes)
		if res.truncated {
			sp.out.Truncation = append(sp.out.Truncation, "an answer went past its cap and was cut")
		}
	}
	return res, err
}

func (sp *sampler) run(ctx context.Context, lim datastore.Limits) error {
	sp.seen = map[string]bool{}
	if len(lim.Keywords) > 0 {
		if err := sp.countKeywords(ctx, lim.Keywords); err != nil {
			return err
		}
	}
	if len(lim.Patterns) > 0 {
		sp.countPatterns(ctx, lim.Patterns)
	}
	if len(lim.Exact) > 0 {
		sp.countExact(ctx, lim.Exact)
	}
	var kws, pats []string
	for _, k := range lim.Keywords {
		if sp.out.Counts[k] > 0 && !slices.Contains(kws, k) {
			kws = append(kws, k)
		}
	}
	for _, p := range lim.Patterns {
		if sp.out.Counts[p] > 0 && !slices.Contains(pats, p) {
			pats = append(pats, p)
		}
	}
	rarest := func(a, b string) int { return int(min(max(sp.out.Counts[a]-sp.out.Counts[b], -1), 1)) }
	slices.SortStableFunc(kws, rarest)
	slices.SortStableFunc(pats, rarest)
	if len(kws)+len(pats) > maxKeys {
		sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf("rows fetched for the %d rarest of %d keywords and patterns found", maxKeys, len(kws)+len(pats)))
		if len(kws) > maxKeys {
			kws = kws[:maxKeys]
		}
		pats = pats[:min(len(pats), maxKeys-len(kws))]
	}
	// Keywords of rules fetched by value fetch one row of their own.
	names, covered := byValue(lim, sp.out)
	var own, one []string
	for _, k := range kws {
		if covered[k] {
			one = append(one, k)
		} else {
			own = append(own, k)
		}
	}
	if err := sp.fetch(ctx, own, "strpos(h, k.v) > 0", windows(len(sp.out.Columns))); err != nil {
		return err
	}
	perKey := sp.perKey
	sp.perKey = 1
	err := sp.fetch(ctx, one, "strpos(h, k.v) > 0", windows(len(sp.out.Columns)))
	sp.perKey = perKey
	if err != nil {
		return err
	}
	if err := sp.distinct(ctx, lim, names); err != nil {
		return err
	}
	if err := sp.fetch(ctx, pats, "h ~ k.v", sp.heads); err != nil {
		return err
	}
	if lim.Random > 0 {
		if err := sp.random(ctx, lim.Random); err != nil {
			return err
		}
	}
	if sp.sampled && len(sp.out.Counts) > 0 {
		sp.scale(ctx)
	}
	return nil
}

// scale turns counts over a TABLESAMPLE into estimates for the whole
// table (counted × the table's rows / the rows searched), and says so.
func (sp *sampler) scale(ctx context.Context) {
	res, err := sp.query(ctx, "SELECT count(*)::text FROM "+sp.src, 2)
	if err != nil || res == nil || len(res.rows) != 1 || len(res.rows[0]) != 1 || datastore.ParseCount(res.rows[0][0]) <= 0 {
		sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf("counts are over a TABLESAMPLE of the table's pages (at most %d of its about %d rows), not scaled", scanRows, sp.t.Rows))
		return
	}
	searched := datastore.ParseCount(res.rows[0][0])
	sp.out.Estimated = true
	for k, n := range sp.out.Counts {
		sp.out.Counts[k] = int64(float64(n) * float64(sp.t.Rows) / float64(searched))
	}
	sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf(
		"counts estimated: rows counted in a TABLESAMPLE of %d of the table's about %d rows, scaled by %.1f", searched, sp.t.Rows, float64(sp.t.Rows)/float64(searched)))
}

// countKeywords counts the rows holding each keyword, in one pass per
// batch: strpos of each keyword in each row. (One regular expression of
// all the keywords is slower on PostgreSQL: 2.8 s against 1.4 s for 600
// keywords over 10,000 rows.)
func (sp *sampler) countKeywords(ctx context.Context, keywords []string) error {
	var batch []string
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		lits := make([]string, len(batch))
		for i, k := range batch {
			lits[i] = quoteString(k)
		}
		q := fmt.Sprintf("SELECT k.v, count(*)::text FROM %s, unnest(ARRAY[%s]::text[]) AS k(v) WHERE strpos(s.h, k.v) > 0 GROUP BY 1 LIMIT %d",
			sp.src, strings.Join(lits, ", "), len(batch)+1)
		res, err := sp.query(ctx, q, len(batch)+1)
		batch, size = batch[:0], 0
		if err != nil {
			return fmt.Errorf("counting keywords: %w", err)
		}
		if res == nil {
			return nil
		}
		for _, r := range res.rows {
			if len(r) == 2 && slices.Contains(keywords, r[0]) {
				sp.out.Counts[r[0]] = datastore.ParseCount(r[1])
			}
		}
		return nil
	}
	for _, k := range keywords {
		if k == "" || slices.Contains(batch, k) {
			continue
		}
		if size+len(k)+8 > maxQuery {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, k)
		size += len(k) + 8
	}
	return flush()
}

// countPatterns counts the rows matching each pattern, all in one pass;
// if the server refuses one pattern, each is counted alone so the others
// still count.
func (sp *sampler) countPatterns(ctx context.Context, patterns []string) {
	exprs := make([]string, len(patterns))
	for i, p := range patterns {
		exprs[i] = fmt.Sprintf("(count(*) FILTER (WHERE h ~ %s))::text", quoteString(p))
	}
	sp.counts(ctx, patterns, exprs, "pattern")
}

// countExact counts, for each name of exact whose keywords occur, the
// rows holding one of its keywords and matching its pattern: substring
// search first, the regular expression only on the rows it leaves.
func (sp *sampler) countExact(ctx context.Context, exact map[string]datastore.Match) {
	var names, exprs []string
	for n := range exact {
		names = append(names, n)
	}
	slices.Sort(names)
	var keep []string
	for _, n := range names {
		m := exact[n]
		var kws []string
		for _, k := range m.Keywords {
			if sp.out.Counts[k] > 0 {
				kws = append(kws, fmt.Sprintf("strpos(h, %s) > 0", quoteString(k)))
			}
		}
		if len(kws) == 0 {
			continue
		}
		keep = append(keep, n)
		exprs = append(exprs, fmt.Sprintf("(count(*) FILTER (WHERE (%s) AND h ~ %s))::text", strings.Join(kws, " OR "), quoteString(m.Pattern)))
	}
	sp.counts(ctx, keep, exprs, "exact pattern")
}

// counts runs count expressions, naming each result after keys; on an
// error it runs each alone, at most 64 of them.
func (sp *sampler) counts(ctx context.Context, keys, exprs []string, what string) {
	if len(keys) == 0 {
		return
	}
	run := func(ks, es []string) error {
		res, err := sp.query(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(es, ", "), sp.src), 2)
		if err != nil {
			return err
		}
		if res != nil && len(res.rows) == 1 && len(res.rows[0]) == len(ks) {
			for i, k := range ks {
				if n := datastore.ParseCount(res.rows[0][i]); n >= 0 {
					sp.out.Counts[k] = n
				}
			}
		}
		return nil
	}
	if err := run(keys, exprs); err == nil || len(keys) == 1 {
		if err != nil {
			sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf("%s not counted: %v", what, err))
		}
		return
	}
	failed := 0
	for i := range keys[:min(len(keys), 64)] {
		if ctx.Err() != nil {
			break
		}
		if err := run(keys[i:i+1], exprs[i:i+1]); err != nil {
			failed++
		}
	}
	if failed > 0 {
		sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf("%d of %d %ss not counted: the server refused them", failed, len(keys), what))
	}
}

// fetch reads up to perKey rows for each key, in one query: a LATERAL
// search per key that stops at its perKey-th row.
func (sp *sampler) fetch(ctx context.Context, keys []string, cond, heads string) error {
	if len(keys) == 0 {
		return nil
	}
	lits := make([]string, len(keys))
	for i, k := range keys {
		lits[i] = quoteString(k)
	}
	q := fmt.Sprintf("SELECT k.i::text, x.* FROM unnest(ARRAY[%s]::text[]) WITH ORDINALITY AS k(v, i), LATERAL (SELECT %s FROM %s WHERE %s LIMIT %d) x",
		strings.Join(lits, ", "), heads, sp.src, cond, sp.perKey)
	res, err := sp.query(ctx, q, len(keys)*sp.perKey)
	if err != nil {
		return fmt.Errorf("fetching rows: %w", err)
	}
	if res == nil {
		return nil
	}
	got := map[int64]int{}
	for _, r := range res.rows {
		if len(r) != 1+len(sp.out.Columns) { // a peer's row may not match its own header
			continue
		}
		i := datastore.ParseCount(r[0])
		if i < 1 || i > int64(len(keys)) || got[i] >= sp.perKey {
			continue
		}
		got[i]++
		sp.keep(r[1:])
	}
	return nil
}

// A long value is read back as its head and a window around where the
// keyword was found, valueByteCap bytes in all: a token at byte 100,000 of
// a value is classified, and no value costs more.
const (
	headBytes   = valueByteCap / 4
	beforeBytes = valueByteCap / 4
)

// windows returns the columns c0…c(n-1) of a source, each as its first
// valueByteCap bytes, or, where keyword k.v lies past them, as its head
// and a window around the keyword.
func windows(n int) string { return strings.Join(windowsAt(n, "k.v"), ", ") }

// windowsAt is windows around anchor, an expression of the text found, one
// expression a column.
func windowsAt(n int, anchor string) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("CASE WHEN octet_length(c%[1]d) <= %[2]d OR strpos(c%[1]d, %[7]s) <= %[3]d THEN left(c%[1]d, %[2]d) "+
			"ELSE left(c%[1]d, %[4]d) || chr(10) || substr(c%[1]d, strpos(c%[1]d, %[7]s) - %[5]d, %[6]d) END",
			i, valueByteCap, valueByteCap-headBytes-beforeBytes, headBytes, beforeBytes, valueByteCap-headBytes-1, anchor)
	}
	return out
}

// keep adds a row read back, once.
func (sp *sampler) keep(row []string) {
	id := strings.Join(row, "\x00")
	if sp.seen[id] {
		return
	}
	sp.seen[id] = true
	sp.out.Values = append(sp.out.Values, row)
	sp.out.ReadRows++
	for _, v := range row {
		sp.s.rowsHeld += int64(len(v)) + 16
	}
	sp.s.rowsHeld += 24
}

// random reads n rows drawn at random from a bounded pool: a TABLESAMPLE
// of the pages of a large table, at most randomPool rows.
func (sp *sampler) random(ctx context.Context, n int) error {
	from := qualified(sp.t)
	if sp.t.Rows > randomPool {
		pct := float64(randomPool) * 100 / float64(sp.t.Rows)
		from += fmt.Sprintf(" TABLESAMPLE SYSTEM (%s)", samplePercent(pct))
	}
	cols := make([]string, len(sp.out.Columns))
	for i, c := range sp.out.Columns {
		cols[i] = fmt.Sprintf("left(%s::text, %d)", quoteIdent(c), valueByteCap)
	}
	q := fmt.Sprintf("SELECT * FROM (SELECT %s FROM %s LIMIT %d) s ORDER BY random() LIMIT %d", strings.Join(cols, ", "), from, randomPool, n)
	res, err := sp.query(ctx, q, n)
	if err != nil {
		return fmt.Errorf("random rows: %w", err)
	}
	if res == nil {
		return nil
	}
	for _, r := range res.rows {
		if len(r) == len(sp.out.Columns) {
			sp.keep(r)
		}
	}
	return nil
}

// samplePercent writes a TABLESAMPLE percentage: in full precision, so a
// table of billions of rows (or a hostile estimate) is not sampled at
// "0.0000" percent, which reads nothing; at least 1e-6 percent.
func samplePercent(pct float64) string {
	return strconv.FormatFloat(min(max(pct, 1e-6), 100), 'f', -1, 64)
}
