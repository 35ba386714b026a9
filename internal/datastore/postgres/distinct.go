package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// valuePrefix is how many characters of a value name its family: a
// connection string's scheme, a token's type prefix.
const valuePrefix = 8

// byValue returns the names of lim.Distinct one of whose keywords is
// counted in out, and the keywords they cover: those are fetched by value,
// each keyword then fetching a single row of its own.
func byValue(lim datastore.Limits, out *datastore.Rows) (names []string, covered map[string]bool) {
	covered = map[string]bool{}
	for n, x := range lim.Distinct {
		if slices.ContainsFunc(x.Keywords, func(k string) bool { return out.Counts[k] > 0 }) {
			names = append(names, n)
			for _, k := range x.Keywords {
				covered[k] = true
			}
		}
	}
	slices.Sort(names)
	return names, covered
}

// distinct fetches, over the rows the Sample searches (sp.src), for each
// entry of lim.Distinct named in names, up to perKey rows each holding a
// different value of its pattern (group 1 of regexp_matches), leaving out
// values holding one of its Exclude: the rarest value of each family
// (valuePrefix), then the next of each, ties broken by a hash. Rows are
// filtered by keyword (strpos) before any pattern runs.
func (sp *sampler) distinct(ctx context.Context, lim datastore.Limits, names []string) error {
	if len(names) == 0 {
		return nil
	}
	var pats, filters, keeps []string
	for i, n := range names {
		x := lim.Distinct[n]
		pats = append(pats, quoteString(x.Pattern))
		var f []string
		for _, k := range x.Keywords {
			f = append(f, fmt.Sprintf("strpos(s.h, %s) > 0", quoteString(k)))
		}
		filters = append(filters, fmt.Sprintf("WHEN %d THEN %s", i+1, strings.Join(f, " OR ")))
		ex := []string{"false"}
		for _, e := range x.Exclude {
			ex = append(ex, fmt.Sprintf("strpos(m.v, %s) > 0", quoteString(e)))
		}
		keeps = append(keeps, fmt.Sprintf("WHEN %d THEN NOT (%s)", i+1, strings.Join(ex, " OR ")))
	}
	ncols := len(sp.out.Columns)
	cs := make([]string, ncols)
	for i := range cs {
		cs[i] = fmt.Sprintf("w%d", i)
	}
	win := windowsAt(ncols, "m.v")
	for i := range win {
		win[i] += fmt.Sprintf(" AS w%d", i)
	}
	cand := fmt.Sprintf("SELECT e.i, m.v, %s FROM %s, unnest(ARRAY[%s]::text[]) WITH ORDINALITY AS e(p, i), "+
		"LATERAL (SELECT (regexp_matches(s.h, e.p, 'g'))[1] AS v) m "+
		"WHERE CASE e.i %s END AND m.v <> '' AND CASE e.i %s END",
		strings.Join(win, ", "), sp.src, strings.Join(pats, ", "), strings.Join(filters, " "), strings.Join(keeps, " "))
	byVal := fmt.Sprintf("SELECT i, v, %s, row_number() OVER (PARTITION BY i, v) AS r, count(*) OVER (PARTITION BY i, v) AS n FROM (%s) c",
		strings.Join(cs, ", "), cand)
	fam := fmt.Sprintf("SELECT i, v, n, %s, row_number() OVER (PARTITION BY i, left(v, %d) ORDER BY n, md5(v)) AS t FROM (%s) b WHERE r = 1",
		strings.Join(cs, ", "), valuePrefix, byVal)
	ranked := fmt.Sprintf("SELECT i, %s, row_number() OVER (PARTITION BY i ORDER BY t, n, md5(v)) AS rk FROM (%s) f",
		strings.Join(cs, ", "), fam)
	q := fmt.Sprintf("SELECT i::text, %s FROM (%s) d WHERE rk <= %d LIMIT %d", strings.Join(cs, ", "), ranked, sp.perKey, len(names)*sp.perKey)
	res, err := sp.query(ctx, q, len(names)*sp.perKey)
	if err != nil {
		// The rows per keyword stand; say what was not read.
		sp.out.Truncation = append(sp.out.Truncation, fmt.Sprintf("rows of %d rules not read by value: %v", len(names), err))
		return nil
	}
	if res == nil {
		return nil
	}
	got := map[int64]int{}
	for _, r := range res.rows {
		if len(r) != 1+ncols {
			continue
		}
		i := datastore.ParseCount(r[0])
		if i < 1 || i > int64(len(names)) || got[i] >= sp.perKey {
			continue
		}
		got[i]++
		sp.keep(r[1:])
	}
	return nil
}
