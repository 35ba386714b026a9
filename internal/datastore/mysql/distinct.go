package mysql

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// valuePrefix is how many characters of a whole match name its family:
// a character of context and a connection string's scheme or a token's
// type prefix.
const valuePrefix = 9

// groupsByValue reports whether the server has what fetching rows by
// distinct value takes: REGEXP_SUBSTR and window functions (MariaDB 10.2,
// MySQL 8.0).
func (s *Session) groupsByValue() bool {
	v := strings.TrimPrefix(s.version, "5.5.5-") // MariaDB's replication-era prefix
	parts := strings.SplitN(shortVersion(v), ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	if s.mariadb {
		return major > 10 || major == 10 && minor >= 2
	}
	return major >= 8
}

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

// distinct fetches, for each entry of lim.Distinct named in names, up to
// perKey rows each holding a different value of its pattern (REGEXP_SUBSTR:
// the whole match, a character of context included), leaving out values
// holding one of its Exclude: the rarest value of each family, then the
// next of each, and so on. One scan of the table per
// batch: the rows holding a keyword are joined to the entries, and the
// server numbers them per value with window functions. Excludes of one
// character are not applied: the context a whole match carries may be one.
func (s *Session) distinct(ctx context.Context, out *datastore.Rows, hay, from string, heads []string, lim datastore.Limits, names []string, perKey int, budget *int64, seen map[string]bool) {
	size := func(n string) int {
		x := lim.Distinct[n]
		m := 3*len(x.Pattern) + 200
		for _, k := range x.Keywords {
			m += 2*(2*len(k)+30) + 10
		}
		for _, e := range x.Exclude {
			m += 2*len(e) + 40
		}
		return m
	}
	cs := aliases(len(heads))
	for _, batch := range datastore.Batches(names, size, maxQueryText) {
		if *budget <= 0 || ctx.Err() != nil {
			return
		}
		var any, which, value, keep, ids []string
		for i, n := range batch {
			x := lim.Distinct[n]
			var locs []string
			// Every keyword of the entry, found in the search or not: the
			// search read a part of the table, this pass reads it all.
			for _, k := range x.Keywords {
				locs = append(locs, fmt.Sprintf("LOCATE(%s, leakhound_h) > 0", hexLit(k)))
			}
			any = append(any, locs...)
			which = append(which, fmt.Sprintf("WHEN %d THEN %s", i, strings.Join(locs, " OR ")))
			value = append(value, fmt.Sprintf("WHEN %d THEN REGEXP_SUBSTR(%s, %s)", i, regexSubject, strLit(x.Pattern)))
			var ex []string
			for _, e := range x.Exclude {
				if len(e) > 1 {
					ex = append(ex, fmt.Sprintf("LOCATE(%s, leakhound_v) > 0", strLit(e)))
				}
			}
			if len(ex) == 0 {
				ex = []string{"FALSE"}
			}
			keep = append(keep, fmt.Sprintf("WHEN %d THEN NOT (%s)", i, strings.Join(ex, " OR ")))
			ids = append(ids, fmt.Sprintf("SELECT %d AS leakhound_i", i))
		}
		// Rows holding a keyword, each joined to the entries it may hold;
		// then per entry and value the row numbered first and how many
		// rows hold the value; then per entry the perKey rarest values.
		cand := fmt.Sprintf("SELECT leakhound_k.leakhound_i, %s, CASE leakhound_k.leakhound_i %s END AS leakhound_v FROM "+
			"(SELECT %s, %s AS leakhound_h FROM %s) leakhound_x STRAIGHT_JOIN (%s) leakhound_k ON CASE leakhound_k.leakhound_i %s END "+
			"WHERE %s",
			strings.Join(cs, ", "), strings.Join(value, " "), aliasedHeads(heads), hay, from, strings.Join(ids, " UNION ALL "),
			strings.Join(which, " "), strings.Join(any, " OR "))
		byVal := fmt.Sprintf("SELECT leakhound_i, %s, leakhound_v, ROW_NUMBER() OVER (PARTITION BY leakhound_i, leakhound_v) AS leakhound_r, "+
			"COUNT(*) OVER (PARTITION BY leakhound_i, leakhound_v) AS leakhound_n FROM (%s) leakhound_c WHERE leakhound_v <> '' AND CASE leakhound_i %s END",
			strings.Join(cs, ", "), cand, strings.Join(keep, " "))
		// Values are taken in turns by family (their first bytes: a
		// scheme, a token's type), rarest first within each, ties broken
		// by a hash, as ClickHouse's are.
		fam := fmt.Sprintf("SELECT leakhound_i, %s, leakhound_n, leakhound_v, ROW_NUMBER() OVER (PARTITION BY leakhound_i, LEFT(leakhound_v, %d) ORDER BY leakhound_n, CRC32(leakhound_v)) AS leakhound_t "+
			"FROM (%s) leakhound_b WHERE leakhound_r = 1", strings.Join(cs, ", "), valuePrefix, byVal)
		ranked := fmt.Sprintf("SELECT leakhound_i, %s, ROW_NUMBER() OVER (PARTITION BY leakhound_i ORDER BY leakhound_t, leakhound_n, CRC32(leakhound_v)) AS leakhound_rk FROM (%s) leakhound_f",
			strings.Join(cs, ", "), fam)
		q := fmt.Sprintf("SELECT leakhound_i, %s FROM (%s) leakhound_d WHERE leakhound_rk <= %d", strings.Join(cs, ", "), ranked, perKey)
		if s.mariadb {
			q += fmt.Sprintf(" LIMIT %d ROWS EXAMINED %d", len(batch)*perKey, examineRows)
		} else {
			q += fmt.Sprintf(" LIMIT %d", len(batch)*perKey)
		}
		res, err := s.q(ctx, s.limited(q, lim.Timeout), len(batch)*perKey, *budget)
		if err != nil {
			out.Truncation = append(out.Truncation, fmt.Sprintf("rows of %d rules not read by value: %v", len(batch), err))
			continue
		}
		*budget -= res.Bytes
		out.ReadBytes = datastore.AddCount(out.ReadBytes, res.Bytes)
		if res.Cut != "" {
			out.Truncation = append(out.Truncation, "rows by value: "+res.Cut)
		}
		per := map[int]int{}
		for _, r := range res.Rows {
			i, err := strconv.Atoi(r[0])
			if len(r) != 1+len(heads) || err != nil || i < 0 || i >= len(batch) || per[i] >= perKey {
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
}
