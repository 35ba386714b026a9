package esreplay

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxResultWindow is index.max_result_window's default.
const maxResultWindow = 10000

// searchReq is a search body (rest-api-spec search.json; docs/reference/
// search/search.asciidoc), with the URL parameters folded in.
type searchReq struct {
	Query          any            `json:"query"`
	Size           *int           `json:"size"`
	From           int            `json:"from"`
	Source         any            `json:"_source"`
	Timeout        string         `json:"timeout"`
	TerminateAfter int            `json:"terminate_after"`
	TrackTotalHits any            `json:"track_total_hits"`
	Aggs           map[string]any `json:"aggs"`
	Aggregations   map[string]any `json:"aggregations"`
}

func parseBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return bad("parsing_exception", "request body: %v", err)
	}
	return nil
}

// parseTime reads a time value ("500ms", "2s", "1m").
func parseTime(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err == nil && v >= 0 {
				return time.Duration(v) * u.d, nil
			}
		}
	}
	return 0, bad("parse_exception", "failed to parse setting [timeout] with value [%s] as a time value: unit is missing or unrecognized", s)
}

// sourceFilter reads _source: false, true, a pattern, a list, or
// {includes, excludes}.
func sourceFilter(v any) (bool, func(string) bool) {
	all := func(string) bool { return true }
	var inc []string
	switch x := v.(type) {
	case nil:
		return true, all
	case bool:
		return x, all
	case string:
		inc = []string{x}
	case []any:
		for _, p := range x {
			if s, ok := p.(string); ok {
				inc = append(inc, s)
			}
		}
	case map[string]any:
		for _, p := range clauses(x["includes"]) {
			if s, ok := p.(string); ok {
				inc = append(inc, s)
			}
		}
		if len(inc) == 0 {
			return true, all
		}
	}
	return true, func(path string) bool {
		for _, p := range inc {
			if glob(p, path) || strings.HasPrefix(path, p+".") {
				return true
			}
		}
		return false
	}
}

type hit struct {
	ix    *index
	doc   int32
	score float64
}

func (s *Server) hitJSON(h hit, withSource bool, include func(string) bool) map[string]any {
	m := map[string]any{"_index": h.ix.name, "_id": strconv.Itoa(int(h.doc)), "_score": h.score}
	if s.seed.Product == "elasticsearch" && strings.HasPrefix(s.seed.Version, "7.") {
		m["_type"] = "_doc"
	}
	if withSource {
		m["_source"] = h.ix.source(int(h.doc), include)
	}
	return m
}

// run evaluates q over every document of ixs, returning the matches in
// order; terminate_after (limit) keeps the first limit matches of each
// index (a shard), as "the maximum number of documents to collect for
// each shard" says.
func run(ixs []*index, q any, deadline time.Time, limit int) (hits []hit, timedOut, terminated bool, err error) {
	for _, ix := range ixs {
		n := ix.n
		dom := make([]int32, n)
		for i := range dom {
			dom[i] = int32(i)
		}
		e := &evaluator{ix: ix, domain: dom, deadline: deadline}
		if q == nil {
			q = map[string]any{"match_all": map[string]any{}}
		}
		set, err := e.eval(q)
		if err != nil {
			return nil, false, false, err
		}
		timedOut = timedOut || e.timedOut
		kept := 0
		for pos, d := range dom {
			if set.has(pos) {
				if limit > 0 && kept == limit {
					terminated = true
					break
				}
				kept++
				sc := 1.0
				if e.random != nil {
					sc = e.random.score(d)
				}
				hits = append(hits, hit{ix, d, sc})
			}
		}
	}
	return hits, timedOut, terminated, nil
}

// topHits returns the best k of hits, in order, leaving hits as they
// are: a bounded heap, so that the best 100 of a million cost a pass, not
// a sort.
func topHits(hits []hit, k int) []hit {
	if k <= 0 {
		return nil
	}
	if k*4 >= len(hits) {
		out := slices.Clone(hits)
		sortHits(out)
		return out[:min(k, len(out))]
	}
	// A min-heap of the best k so far, worst on top.
	h := make([]hit, 0, k)
	less := func(a, b hit) bool { return hitCmp(a, b) > 0 } // a is worse than b
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(h[r], h[l]) {
				m = r
			}
			if !less(h[m], h[i]) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for _, x := range hits {
		if len(h) < k {
			h = append(h, x)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !less(h[i], h[p]) {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if hitCmp(x, h[0]) < 0 {
			h[0] = x
			down(0)
		}
	}
	sortHits(h)
	return h
}

func hitCmp(a, b hit) int {
	switch {
	case a.score > b.score:
		return -1
	case a.score < b.score:
		return 1
	case a.ix.name != b.ix.name:
		return strings.Compare(a.ix.name, b.ix.name)
	}
	return int(a.doc) - int(b.doc)
}

// sortHits orders hits by score, then index and document (a total
// order, so an unstable sort gives one answer).
func sortHits(hits []hit) {
	slices.SortFunc(hits, hitCmp)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var br *badRequest
	if errors.As(err, &br) {
		s.errorJSON(w, 400, br.typ, br.reason, nil)
		return
	}
	s.errorJSON(w, 500, "exception", err.Error(), nil)
}

func shards() map[string]any {
	return map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0}
}

// search is GET|POST [index/]_search.
func (s *Server) search(w http.ResponseWriter, r *http.Request, segs []string, body []byte) {
	start := time.Now()
	expr := ""
	if len(segs) == 1 {
		expr = segs[0]
	}
	ixs, ok := s.resolve(w, expr)
	if !ok {
		return
	}
	var req searchReq
	if err := parseBody(body, &req); err != nil {
		s.fail(w, err)
		return
	}
	q := r.URL.Query()
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	if v := q.Get("size"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	if v := q.Get("timeout"); v != "" {
		req.Timeout = v
	}
	if v := q.Get("terminate_after"); v != "" {
		req.TerminateAfter, _ = strconv.Atoi(v)
	}
	if v := q.Get("track_total_hits"); v != "" {
		req.TrackTotalHits = v
	}
	if v := q.Get("_source"); v != "" {
		req.Source = strings.Split(v, ",")
		if v == "false" {
			req.Source = false
		}
	}
	if size < 0 || req.From < 0 {
		s.fail(w, bad("illegal_argument_exception", "[size] parameter cannot be negative, found [%d]", size))
		return
	}
	if req.From+size > maxResultWindow {
		// docs/reference/index-modules.asciidoc, index.max_result_window.
		s.errorJSON(w, 400, "illegal_argument_exception", "Result window is too large, from + size must be less than or equal to: [10000] but was ["+
			strconv.Itoa(req.From+size)+"]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", nil)
		return
	}
	var deadline time.Time
	if req.Timeout != "" {
		d, err := parseTime(req.Timeout)
		if err != nil {
			s.fail(w, err)
			return
		}
		deadline = start.Add(d)
	}
	hits, timedOut, terminated, err := run(ixs, req.Query, deadline, req.TerminateAfter)
	if err != nil {
		s.fail(w, err)
		return
	}
	top := topHits(hits, req.From+size)
	withSource, include := sourceFilter(req.Source)
	out := []any{}
	for i := req.From; i < len(top); i++ {
		out = append(out, s.hitJSON(top[i], withSource, include))
	}
	resp := map[string]any{"took": 0, "timed_out": timedOut, "_shards": shards()}
	if req.TerminateAfter > 0 {
		resp["terminated_early"] = terminated
	}
	hitsObj := map[string]any{"max_score": nil, "hits": out}
	if len(top) > 0 {
		hitsObj["max_score"] = top[0].score
	} else if len(hits) > 0 {
		hitsObj["max_score"] = topHits(hits, 1)[0].score
	}
	if total, ok := totalHits(len(hits), req.TrackTotalHits); ok {
		hitsObj["total"] = total
	}
	resp["hits"] = hitsObj
	aggs := req.Aggs
	if aggs == nil {
		aggs = req.Aggregations
	}
	if len(aggs) > 0 {
		a, err := s.aggregate(aggs, hits, deadline)
		if err != nil {
			s.fail(w, err)
			return
		}
		resp["aggregations"] = a
	}
	resp["took"] = time.Since(start).Milliseconds()
	s.rawJSON(w, 200, resp)
}

// totalHits is hits.total as track_total_hits asks: exact (true), up to a
// threshold (default 10000, relation gte past it), or absent (false).
func totalHits(n int, track any) (map[string]any, bool) {
	limit := 10000
	switch t := track.(type) {
	case bool:
		if !t {
			return nil, false
		}
		limit = -1
	case string:
		if t == "false" {
			return nil, false
		}
		if t == "true" {
			limit = -1
		} else if v, err := strconv.Atoi(t); err == nil {
			limit = v
		}
	case json.Number:
		v, _ := strconv.Atoi(string(t))
		limit = v
	}
	if limit >= 0 && n > limit {
		return map[string]any{"value": limit, "relation": "gte"}, true
	}
	return map[string]any{"value": n, "relation": "eq"}, true
}

// aggregate computes the aggregations the replay knows over the documents
// in docs: filters (docs/reference/aggregations/bucket/filters-
// aggregation.asciidoc), sampler (sampler-aggregation.asciidoc: the top
// shard_size documents by score) and top_hits (metrics/tophits-
// aggregation.asciidoc).
func (s *Server) aggregate(aggs map[string]any, docs []hit, deadline time.Time) (map[string]any, error) {
	out := map[string]any{}
	for name, def := range aggs {
		m, ok := def.(map[string]any)
		if !ok {
			return nil, bad("parsing_exception", "Expected [START_OBJECT] under aggregation [%s]", name)
		}
		sub, _ := m["aggs"].(map[string]any)
		if sub == nil {
			sub, _ = m["aggregations"].(map[string]any)
		}
		var kind string
		var body any
		for k, v := range m {
			if k != "aggs" && k != "aggregations" && k != "meta" {
				kind, body = k, v
			}
		}
		switch kind {
		case "sampler":
			b, _ := body.(map[string]any)
			n := 100
			if x, ok := b["shard_size"].(json.Number); ok {
				n, _ = strconv.Atoi(string(x))
			}
			sample := topHits(docs, n)
			res := map[string]any{"doc_count": len(sample)}
			if sub != nil {
				r, err := s.aggregate(sub, sample, deadline)
				if err != nil {
					return nil, err
				}
				for k, v := range r {
					res[k] = v
				}
			}
			out[name] = res
		case "filters":
			b, _ := body.(map[string]any)
			var names []string
			var queries []any
			keyed := false
			switch f := b["filters"].(type) {
			case map[string]any:
				keyed = true
				for k := range f {
					names = append(names, k)
				}
				sort.Strings(names)
				for _, k := range names {
					queries = append(queries, f[k])
				}
			case []any:
				queries = f
			default:
				return nil, bad("parsing_exception", "[filters] must be an object or an array")
			}
			buckets, err := s.filterBuckets(docs, queries, sub, deadline)
			if err != nil {
				return nil, err
			}
			if keyed {
				km := map[string]any{}
				for i, k := range names {
					km[k] = buckets[i]
				}
				out[name] = map[string]any{"buckets": km}
			} else {
				out[name] = map[string]any{"buckets": buckets}
			}
		case "top_hits":
			b, _ := body.(map[string]any)
			size := 3
			if x, ok := b["size"].(json.Number); ok {
				size, _ = strconv.Atoi(string(x))
			}
			withSource, include := sourceFilter(b["_source"])
			sorted := topHits(docs, size)
			hs := []any{}
			for i := 0; i < len(sorted) && i < size; i++ {
				hs = append(hs, s.hitJSON(sorted[i], withSource, include))
			}
			out[name] = map[string]any{"hits": map[string]any{"total": map[string]any{"value": len(docs), "relation": "eq"}, "max_score": 1.0, "hits": hs}}
		default:
			return nil, bad("unknown_named_object_exception", "Unknown aggregation type [%s]", kind)
		}
	}
	return out, nil
}

// filterBuckets evaluates each filter over docs, with one evaluator per
// index (the documents of docs in it are every filter's domain).
func (s *Server) filterBuckets(docs []hit, queries []any, sub map[string]any, deadline time.Time) ([]any, error) {
	byIndex := map[*index][]int{}
	var order []*index
	for i, h := range docs {
		if _, ok := byIndex[h.ix]; !ok {
			order = append(order, h.ix)
		}
		byIndex[h.ix] = append(byIndex[h.ix], i)
	}
	evals := map[*index]*evaluator{}
	for _, ix := range order {
		pos := byIndex[ix]
		dom := make([]int32, len(pos))
		for j, p := range pos {
			dom[j] = docs[p].doc
		}
		evals[ix] = &evaluator{ix: ix, domain: dom, deadline: deadline}
	}
	out := make([]any, len(queries))
	for qi, q := range queries {
		var in []hit
		n := 0
		for _, ix := range order {
			set, err := evals[ix].eval(q)
			if err != nil {
				return nil, err
			}
			n += set.count()
			if sub != nil {
				for j, p := range byIndex[ix] {
					if set.has(j) {
						in = append(in, docs[p])
					}
				}
			}
		}
		b := map[string]any{"doc_count": n}
		if sub != nil {
			r, err := s.aggregate(sub, in, deadline)
			if err != nil {
				return nil, err
			}
			for k, v := range r {
				b[k] = v
			}
		}
		out[qi] = b
	}
	return out, nil
}

// count is GET|POST [index/]_count (rest-api-spec count.json).
func (s *Server) count(w http.ResponseWriter, r *http.Request, segs []string, body []byte) {
	expr := ""
	if len(segs) == 1 {
		expr = segs[0]
	}
	ixs, ok := s.resolve(w, expr)
	if !ok {
		return
	}
	var req struct {
		Query any `json:"query"`
	}
	if err := parseBody(body, &req); err != nil {
		s.fail(w, err)
		return
	}
	hits, _, _, err := run(ixs, req.Query, time.Time{}, 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.rawJSON(w, 200, map[string]any{"count": len(hits), "_shards": shards()})
}
