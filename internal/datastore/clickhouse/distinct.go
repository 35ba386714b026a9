package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// distinctGroupCap bounds the values one distinct pass groups rows by
// (max_rows_to_group_by, group_by_overflow_mode='any'): each holds one
// row's windows on the server until the pass ends. Past it, values not
// yet seen are not counted, which leaves those seen before.
const distinctGroupCap = 5000

// valuePrefix is how many bytes of a value name its family: a
// connection string's scheme, a token's type prefix.
const valuePrefix = 8

// covered returns the keywords of lim.Distinct's entries: discover fetches
// one row for each (the distinct pass fetches their rows by value), still
// counting them all.
func covered(lim datastore.Limits) map[string]bool {
	out := map[string]bool{}
	for _, x := range lim.Distinct {
		for _, k := range x.Keywords {
			out[k] = true
		}
	}
	return out
}

// distinct fetches, for each entry of lim.Distinct one of whose keywords
// discover found, up to perKey rows each holding a different value of its
// pattern, leaving out values holding one of its Exclude: the rarest value
// of each family (valuePrefix), then the next of each, and so on. Rows are filtered by keyword (a substring search) before any
// pattern runs. Each entry's values come from extractAll, so a row whose
// first value is a placeholder is still found by its second.
func (s *session) distinct(ctx context.Context, out *datastore.Rows, src string, ncols, perKey int, lim datastore.Limits, budget *int64, seen map[string]bool) error {
	var names []string
	for n, x := range lim.Distinct {
		if slices.ContainsFunc(x.Keywords, func(k string) bool { return out.Counts[k] > 0 }) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	size := func(n string) int {
		x := lim.Distinct[n]
		m := 2*len(x.Pattern) + 120
		for _, k := range x.Keywords {
			m += 2*len(k) + 1
		}
		for _, e := range x.Exclude {
			m += 2*len(e) + 1
		}
		return m
	}
	batches := datastore.Batches(names, size, maxQueryText)
	windows := make([]string, ncols)
	kept := []string{"leakhound_h"}
	for i := range ncols {
		windows[i] = window(i)
		kept = append(kept, fmt.Sprintf("leakhound_v%d", i), fmt.Sprintf("leakhound_o%d", i))
	}
	cols := make([]string, ncols)
	for i := range ncols {
		cols[i] = fmt.Sprintf("tupleElement(tupleElement(leakhound_e, 3), %d)", i+1)
	}
	wnames := make([]string, ncols)
	for i := range ncols {
		wnames[i] = fmt.Sprintf("leakhound_c%d", i)
	}
	for bi, batch := range batches {
		if *budget <= 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped after %d of %d distinct passes: %w", bi, len(batches), err)
		}
		var kws, values []string
		for i, n := range batch {
			x := lim.Distinct[n]
			for _, k := range x.Keywords {
				if q := regexp.QuoteMeta(k); out.Counts[k] > 0 && !slices.Contains(kws, q) {
					kws = append(kws, q)
				}
			}
			// Each value tagged with its entry; ClickHouse's extractAll
			// returns the first group, the value.
			keep := "x != ''"
			if len(x.Exclude) > 0 {
				ex := make([]string, len(x.Exclude))
				for j, e := range x.Exclude {
					ex[j] = regexp.QuoteMeta(e)
				}
				keep += " AND NOT match(x, " + quoteString(strings.Join(ex, "|")) + ")"
			}
			values = append(values, fmt.Sprintf("arrayMap(x -> tuple(toUInt32(%d), x), arrayFilter(x -> %s, extractAll(leakhound_h, %s)))",
				i, keep, quoteString(x.Pattern)))
		}
		joined := values[0]
		if len(values) > 1 {
			joined = "arrayConcat(" + strings.Join(values, ", ") + ")"
		}
		// Windows are cut before grouping, around the value found, so a
		// group holds a few KB whatever the row's size.
		// Values are taken in turns by their first valuePrefix bytes (a
		// scheme, a token's type), rarest first within each, ties broken
		// by a hash: three redis:// values are not crowded out by three
		// hundred postgres:// ones, nor by what sorts first.
		q := fmt.Sprintf("SELECT toString(leakhound_k), toString(tupleElement(leakhound_e, 1)), %s FROM ("+
			"SELECT leakhound_k, arraySlice(arraySort(e -> (tupleElement(e, 1), tupleElement(e, 2)), groupArray(tuple(leakhound_n, cityHash64(leakhound_x), leakhound_r))), 1, %d) AS leakhound_g FROM ("+
			"SELECT leakhound_k, leakhound_x, count() AS leakhound_n, any(tuple(%s)) AS leakhound_r FROM ("+
			"SELECT tupleElement(leakhound_p, 1) AS leakhound_k, tupleElement(leakhound_p, 2) AS leakhound_x, position(leakhound_h, leakhound_x) AS leakhound_a, %s FROM ("+
			"SELECT %s, arrayJoin(%s) AS leakhound_p FROM %s WHERE match(leakhound_h, %s))"+
			") GROUP BY leakhound_k, leakhound_x"+
			") GROUP BY leakhound_k, substring(leakhound_x, 1, %d)"+
			") ARRAY JOIN leakhound_g AS leakhound_e, arrayEnumerate(leakhound_g) AS leakhound_t "+
			"ORDER BY leakhound_k, leakhound_t, tupleElement(leakhound_e, 1), tupleElement(leakhound_e, 2) LIMIT %d BY leakhound_k",
			strings.Join(cols, ", "), perKey, strings.Join(wnames, ", "), strings.Join(windows, ", "),
			strings.Join(kept, ", "), joined, src, quoteString(strings.Join(kws, "|")), valuePrefix, perKey)
		res, err := s.q(ctx, q, []setting{{"max_rows_to_read", strconv.Itoa(countRowsCap)}, {"read_overflow_mode", "break"},
			{"max_rows_to_group_by", strconv.Itoa(distinctGroupCap)}, {"group_by_overflow_mode", "any"}}, *budget)
		if err != nil {
			return err
		}
		*budget -= res.bytes
		out.ReadBytes = datastore.AddCount(out.ReadBytes, res.bytes)
		if res.truncated {
			out.Truncation = append(out.Truncation, fmt.Sprintf("distinct pass %d of %d: answer cut at the read budget", bi+1, len(batches)))
		}
		got := map[int]int{}
		dropped := 0
		for _, r := range res.rows {
			if len(r) != 2+ncols {
				dropped++
				continue
			}
			i, err := strconv.Atoi(r[0])
			if err != nil || i < 0 || i >= len(batch) || got[i] >= perKey {
				dropped++
				continue
			}
			got[i]++
			row := r[2:]
			id := strings.Join(row, "\x00")
			if !seen[id] {
				seen[id] = true
				out.Values = append(out.Values, row)
				out.ReadRows++
			}
		}
		if dropped > 0 {
			out.Truncation = append(out.Truncation, fmt.Sprintf("distinct pass %d of %d: %d rows the query did not ask for were dropped", bi+1, len(batches), dropped))
		}
	}
	return nil
}
