package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on sampling; a Sample's Limits narrow them.
const (
	valueCap = 8192 // bytes of one value read back
	// searchDocs is how many documents of a large index, drawn at random
	// (function_score random_score), the server searches for every keyword
	// at once, in a sampler aggregation; the keywords found there are then
	// counted over the whole index.
	searchDocs = 20000
	// keywordsPerRequest bounds a filters aggregation (each filter is a
	// bool of a few clauses per field; search.max_buckets is 10000 and up).
	keywordsPerRequest = 150
	maxSampledIndices  = 500
	// maxExpansions is what a phrase-prefix query expands its last term to
	// (the default is 50).
	maxExpansions = 1024
	// maxResultWindow is index.max_result_window's default: a search
	// asking for more is refused.
	maxResultWindow = 10000
)

// textFields are the fields of index t that Sample reads: from the
// inventory's _mapping, or, in a session that listed none, from the
// index's own (GET index/_mapping).
func (s *Session) textFields(ctx context.Context, t datastore.Table) ([]fieldInfo, error) {
	fields, ok := s.fields[t.Name]
	if !ok {
		a, err := s.c.get(ctx, "/"+url.PathEscape(t.Name)+"/_mapping", nil, mappingCap, s.timeout)
		if err != nil {
			return nil, fmt.Errorf("%s: fields: %w", t.QualifiedName(), err)
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("%s: fields: _mapping answered %d: %s", t.QualifiedName(), a.status, errorReason(a.body))
		}
		m, err := parseMapping(a.body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.QualifiedName(), err)
		}
		fields = m[t.Name]
		if s.fields == nil {
			s.fields = map[string][]fieldInfo{}
		}
		if len(s.fields) < maxSampledIndices {
			s.fields[t.Name] = fields
		}
	}
	var out []fieldInfo
	for _, f := range fields {
		if f.textual() {
			out = append(out, f)
		}
	}
	return out, nil
}

// keywordQuery is the filter for one keyword over fields: on analyzed
// fields a match_phrase_prefix (the keyword's terms in a row, the last one
// as a prefix: "AKIA" finds akiaiosfodnn7example), on keyword forms
// (keyword fields, and the keyword sub-field dynamic mapping gives every
// string) a wildcard *keyword*, an exact substring of values up to the
// sub-field's ignore_above (256 characters by default).
func keywordQuery(k string, fields []fieldInfo) map[string]any {
	var should []any
	words := hasWordChar(k)
	for _, f := range fields {
		if f.analyzed() && words {
			should = append(should, map[string]any{"match_phrase_prefix": map[string]any{f.Path: map[string]any{"query": k, "max_expansions": maxExpansions}}})
		}
		if f.Keyword != "" {
			should = append(should, map[string]any{"wildcard": map[string]any{f.Keyword: map[string]any{"value": "*" + escapeWildcard(k) + "*"}}})
		}
	}
	if len(should) == 0 {
		return map[string]any{"match_none": map[string]any{}}
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

func hasWordChar(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// escapeWildcard escapes what a wildcard query reads as operators.
func escapeWildcard(s string) string {
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '*' || r == '?' || r == '\\' {
			b = append(b, '\\')
		}
		b = append(b, r)
	}
	return string(b)
}

func randomQuery(seed int) map[string]any {
	return map[string]any{"function_score": map[string]any{"query": map[string]any{"match_all": map[string]any{}},
		"random_score": map[string]any{"seed": seed, "field": "_seq_no"}, "boost_mode": "replace"}}
}

// timeoutValue is a duration as Elasticsearch's time values write it.
func timeoutValue(d time.Duration) string {
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms"
}

// Sample implements datastore.Session, with searches only (GET with a
// body, each with its own timeout): (1) every keyword searched at once in
// a filters aggregation, over a random searchDocs documents of a large
// index (a sampler under a random_score query) or over all of a small
// one; (2) the keywords found counted over the whole index; (3) up to
// lim.Rows documents holding each, rarest first (terminate_after stops the
// server at as many); (4) lim.Random documents at random. Only the text
// fields' _source is asked for, each value cut at 8 KB, and every answer
// read up to what is left of lim.Bytes.
func (s *Session) Sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	s.rowsHeld = 0
	rows, err := s.sample(ctx, t, lim)
	for _, r := range rows.Values {
		s.rowsHeld += 24
		for _, v := range r {
			s.rowsHeld += 16 + int64(len(v))
		}
	}
	return rows, err
}

func (s *Session) sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	out := datastore.Rows{Counts: map[string]int64{}}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if s.kibana || t.Kind != "index" || t.Rows == 0 {
		return out, nil
	}
	fields, err := s.textFields(ctx, t)
	if err != nil || len(fields) == 0 {
		return out, err
	}
	if s.sampled >= maxSampledIndices {
		return out, fmt.Errorf("%s not sampled (at most %d indices a session): %w", t.QualifiedName(), maxSampledIndices, datastore.ErrSessionCap)
	}
	s.sampled++
	for _, f := range fields {
		out.Columns = append(out.Columns, f.Path)
	}
	budget := lim.Bytes
	if budget <= 0 {
		budget = 32 << 20
	}
	initial := budget
	timeout := lim.Timeout
	if timeout <= 0 || timeout > s.timeout {
		timeout = s.timeout
	}
	path := "/" + url.PathEscape(t.Name)
	search := func(body map[string]any, max int64) (*answer, error) {
		body["timeout"] = timeoutValue(timeout)
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		a, err := s.c.get(ctx, path+"/_search", b, max, timeout+time.Second)
		if err != nil {
			return a, err
		}
		if a.status != http.StatusOK {
			return a, fmt.Errorf("_search answered %d: %s", a.status, errorReason(a.body))
		}
		return a, nil
	}
	// fit bounds how many documents one search asks for: the index's
	// max_result_window (10000 by default), and what the budget left can
	// hold at the index's mean document size (an answer past the budget is
	// cut, and a cut JSON answer yields nothing).
	docBytes := int64(512)
	if t.Rows > 0 && t.Bytes > 0 {
		docBytes = max(t.Bytes/t.Rows, 64)
	}
	fit := func(n int) int {
		return int(max(1, min(int64(n), maxResultWindow, budget/docBytes)))
	}
	seen := map[string]bool{}
	keep := func(h searchHits, bytes int) {
		out.ReadBytes = datastore.AddCount(out.ReadBytes, int64(bytes))
		budget -= int64(bytes)
		for i, id := range h.IDs {
			if !seen[id] {
				seen[id] = true
				out.Values = append(out.Values, h.Rows[i])
				out.ReadRows++
			}
		}
	}

	var keywords []string
	for _, k := range lim.Keywords {
		if k != "" && !slices.Contains(keywords, k) {
			keywords = append(keywords, k)
		}
	}
	if len(keywords) > 0 {
		// 1. Which keywords occur.
		whole := t.Rows >= 0 && t.Rows <= searchDocs
		found := map[string]int64{}
		for start := 0; start < len(keywords); start += keywordsPerRequest {
			batch := keywords[start:min(start+keywordsPerRequest, len(keywords))]
			filters := map[string]any{}
			for i, k := range batch {
				filters[strconv.Itoa(start+i)] = keywordQuery(k, fields)
			}
			agg := map[string]any{"k": map[string]any{"filters": map[string]any{"filters": filters}}}
			body := map[string]any{"size": 0, "track_total_hits": true, "aggs": agg}
			aggPath := []string{"k"}
			if !whole {
				body["query"] = randomQuery(1)
				body["aggs"] = map[string]any{"s": map[string]any{"sampler": map[string]any{"shard_size": searchDocs}, "aggs": agg}}
				aggPath = []string{"s", "k"}
			}
			a, err := search(body, countCap)
			if err != nil {
				out.Truncation = append(out.Truncation, fmt.Sprintf("search for %d keywords failed: %v", len(batch), err))
				if errors.Is(err, context.Canceled) || ctx.Err() != nil {
					return out, err
				}
				continue
			}
			counts, timedOut, err := parseBuckets(a.body, aggPath...)
			if err != nil {
				out.Truncation = append(out.Truncation, err.Error())
				continue
			}
			if timedOut {
				out.Truncation = append(out.Truncation, fmt.Sprintf("the search for %d keywords timed out on the server: its counts are partial", len(batch)))
			}
			for name, n := range counts {
				i, err := strconv.Atoi(name)
				if err == nil && i >= 0 && i < len(keywords) && n > 0 {
					found[keywords[i]] = n
				}
			}
		}
		var present []string
		for _, k := range keywords {
			if found[k] > 0 {
				present = append(present, k)
				out.Counts[k] = found[k]
			}
		}
		if !whole {
			out.Truncation = append(out.Truncation, fmt.Sprintf("keywords looked for in a random %d of %d documents, then the ones found counted over the whole index", searchDocs, t.Rows))
		}
		// 2. Counted over the whole index.
		if !whole && len(present) > 0 {
			for start := 0; start < len(present); start += keywordsPerRequest {
				batch := present[start:min(start+keywordsPerRequest, len(present))]
				filters := map[string]any{}
				for i, k := range batch {
					filters[strconv.Itoa(i)] = keywordQuery(k, fields)
				}
				a, err := search(map[string]any{"size": 0, "aggs": map[string]any{"k": map[string]any{"filters": map[string]any{"filters": filters}}}}, countCap)
				if err != nil {
					out.Truncation = append(out.Truncation, fmt.Sprintf("%d keywords counted in the random sample only: %v", len(batch), err))
					continue
				}
				counts, timedOut, err := parseBuckets(a.body, "k")
				if err != nil || timedOut {
					out.Truncation = append(out.Truncation, fmt.Sprintf("%d keywords counted in the random sample only (timed out %v, %v)", len(batch), timedOut, err))
					continue
				}
				for name, n := range counts {
					if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(batch) && n >= out.Counts[batch[i]] {
						out.Counts[batch[i]] = n
					}
				}
			}
		}
		// 3. Documents holding each, rarest first.
		slices.SortStableFunc(present, func(a, b string) int { return int(min(max(out.Counts[a]-out.Counts[b], -1), 1)) })
		perKey := fit(max(lim.Rows, 1))
		for _, k := range present {
			if budget <= 0 {
				break
			}
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			a, err := search(map[string]any{"size": perKey, "terminate_after": perKey, "_source": out.Columns, "query": keywordQuery(k, fields)}, budget)
			if errors.Is(err, errTooLarge) {
				out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", initial))
				out.ReadBytes = datastore.AddCount(out.ReadBytes, int64(len(a.body)))
				budget = 0
				break
			}
			if err != nil {
				out.Truncation = append(out.Truncation, fmt.Sprintf("documents holding a keyword not read: %v", err))
				continue
			}
			h, err := parseHits(a.body, out.Columns, valueCap)
			if err != nil {
				out.Truncation = append(out.Truncation, err.Error())
				continue
			}
			if len(h.Rows) > perKey {
				h.IDs, h.Rows = h.IDs[:perKey], h.Rows[:perKey]
			}
			keep(h, len(a.body))
		}
	}
	// 4. Documents at random.
	if lim.Random > 0 && budget > 0 && ctx.Err() == nil {
		a, err := search(map[string]any{"size": fit(lim.Random), "_source": out.Columns, "query": randomQuery(2)}, budget)
		switch {
		case errors.Is(err, errTooLarge):
			out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", initial))
			out.ReadBytes = datastore.AddCount(out.ReadBytes, int64(len(a.body)))
		case err != nil:
			out.Truncation = append(out.Truncation, "random documents not read: "+err.Error())
		default:
			if h, err := parseHits(a.body, out.Columns, valueCap); err == nil {
				if len(h.Rows) > lim.Random {
					h.IDs, h.Rows = h.IDs[:lim.Random], h.Rows[:lim.Random]
				}
				keep(h, len(a.body))
			}
		}
	}
	return out, ctx.Err()
}
