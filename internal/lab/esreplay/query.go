package esreplay

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// badRequest is a query the replay refuses, answered as Elasticsearch
// answers a query it cannot parse (400, parsing_exception).
type badRequest struct {
	typ, reason string
}

func (e *badRequest) Error() string { return e.reason }

func bad(typ, format string, args ...any) error {
	return &badRequest{typ: typ, reason: fmt.Sprintf(format, args...)}
}

// bitset is a set of positions in a domain (a list of documents).
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}
func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}
func (b bitset) andNot(o bitset) {
	for i := range b {
		b[i] &^= o[i]
	}
}
func (b bitset) count() (n int) {
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return
}
func fullBitset(n int) bitset {
	b := newBitset(n)
	for i := range n {
		b.set(i)
	}
	return b
}

// evaluator runs queries over one index and a domain of its documents,
// within a deadline: past it, what is left of the domain is not matched
// and timedOut says so, as a search's "timed_out" does.
type evaluator struct {
	ix       *index
	domain   []int32
	deadline time.Time
	timedOut bool
	// scores of documents, set by function_score's random_score.
	random *randomScore
	groups map[*field]*group
	isFull int8 // 0 not yet known, 1 no, 2 yes
}

type randomScore struct {
	seed uint64
}

func (r *randomScore) score(doc int32) float64 {
	// splitmix64 of the seed and the document: a score in [0, 1) that the
	// same seed gives the same document every time.
	x := r.seed ^ (uint64(uint32(doc)) * 0x9E3779B97F4A7C15)
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

func (e *evaluator) expired(pos int) bool {
	if e.timedOut {
		return true
	}
	if pos&4095 == 0 && !e.deadline.IsZero() && time.Now().After(e.deadline) {
		e.timedOut = true
	}
	return e.timedOut
}

// obj reads a JSON object.
func obj(v any, what string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, bad("parsing_exception", "[%s] query malformed, no start_object after query name", what)
	}
	return m, nil
}

// single reads {name: body}, the shape of every query clause.
func single(m map[string]any) (string, any, error) {
	if len(m) != 1 {
		return "", nil, bad("parsing_exception", "[_na] query malformed, must start with start_object")
	}
	for k, v := range m {
		return k, v, nil
	}
	return "", nil, nil
}

// fieldArg reads {field: value} or {field: {key: value, …}}.
func fieldArg(v any, what, key string) (path string, val string, opts map[string]any, err error) {
	m, err := obj(v, what)
	if err != nil {
		return "", "", nil, err
	}
	for k, x := range m {
		if k == "boost" || k == "_name" {
			continue
		}
		path = k
		switch y := x.(type) {
		case string:
			val = y
		case json.Number:
			val = string(y)
		case bool:
			val = strconv.FormatBool(y)
		case map[string]any:
			opts = y
			switch z := y[key].(type) {
			case string:
				val = z
			case json.Number:
				val = string(z)
			default:
				if what == "wildcard" {
					if s, ok := y["wildcard"].(string); ok {
						val = s
						break
					}
				}
				return "", "", nil, bad("parsing_exception", "[%s] query does not support [%s] without a value", what, k)
			}
		default:
			return "", "", nil, bad("parsing_exception", "[%s] query malformed", what)
		}
	}
	if path == "" {
		return "", "", nil, bad("illegal_argument_exception", "[%s] requires a field", what)
	}
	return path, val, opts, nil
}

func truthy(m map[string]any, k string) bool {
	b, _ := m[k].(bool)
	return b
}

// fieldsFor resolves a field name or pattern to the index's fields; a
// "name.keyword" sub-field resolves to its text field, as a keyword.
func (e *evaluator) fieldsFor(name string) []fieldRef {
	var out []fieldRef
	for _, f := range e.ix.fields {
		if glob(name, f.path) {
			out = append(out, fieldRef{f, f.typ != "text"})
		}
		if f.keyword && glob(name, f.path+".keyword") && name != "*" {
			out = append(out, fieldRef{f, true})
		}
	}
	return out
}

// fieldRef is a field as a query sees it: as analyzed text, or as its
// exact value (keyword fields and keyword sub-fields).
type fieldRef struct {
	f     *field
	exact bool
}

// group is the domain's documents by their value of one field: each
// distinct dictionary id and the positions holding it.
type group struct {
	ids []uint32
	pos [][]int32
}

func (e *evaluator) groupOf(f *field) *group {
	if g := e.groups[f]; g != nil {
		return g
	}
	if e.full() {
		// Every document, in order: positions are documents, and the
		// grouping is the field's own, made once.
		f.once.Do(func() { f.all = groupAll(f, e.ix.n) })
		return f.all
	}
	g := &group{}
	slot := map[uint32]int32{}
	for pos, d := range e.domain {
		if int(d) >= len(f.ids) || f.ids[d] == none {
			continue
		}
		id := f.ids[d]
		k, ok := slot[id]
		if !ok {
			k = int32(len(g.ids))
			slot[id] = k
			g.ids = append(g.ids, id)
			g.pos = append(g.pos, nil)
		}
		g.pos[k] = append(g.pos[k], int32(pos))
	}
	if e.groups == nil {
		e.groups = map[*field]*group{}
	}
	e.groups[f] = g
	return g
}

// full reports whether the domain is every document of the index, in order.
func (e *evaluator) full() bool {
	if e.isFull == 0 {
		e.isFull = 1
		if len(e.domain) == e.ix.n {
			e.isFull = 2
			for i, d := range e.domain {
				if int(d) != i {
					e.isFull = 1
					break
				}
			}
		}
	}
	return e.isFull == 2
}

func groupAll(f *field, n int) *group {
	count := make([]int32, len(f.dict))
	for d := 0; d < n && d < len(f.ids); d++ {
		if id := f.ids[d]; id != none {
			count[id]++
		}
	}
	g := &group{}
	slot := make([]int32, len(f.dict))
	for id, c := range count {
		slot[id] = -1
		if c > 0 {
			slot[id] = int32(len(g.ids))
			g.ids = append(g.ids, uint32(id))
			g.pos = append(g.pos, make([]int32, 0, c))
		}
	}
	for d := 0; d < n && d < len(f.ids); d++ {
		if id := f.ids[d]; id != none {
			k := slot[id]
			g.pos[k] = append(g.pos[k], int32(d))
		}
	}
	return g
}

// leaf matches the domain's documents whose value of each field satisfies
// pred (given the dictionary id), judging each distinct value once. A
// keyword sub-field ignores values longer than 256 characters
// (ignore_above), as dynamic mapping sets it.
func (e *evaluator) leaf(refs []fieldRef, pred func(ref fieldRef, id uint32) bool) bitset {
	out := newBitset(len(e.domain))
	for _, ref := range refs {
		f := ref.f
		g := e.groupOf(f)
		for i, id := range g.ids {
			if e.expired(i) {
				break
			}
			if ref.exact && f.typ == "text" && len(f.dict[id]) > 256 && utf8.RuneCountInString(f.dict[id]) > 256 {
				continue
			}
			if pred(ref, id) {
				for _, p := range g.pos[i] {
					out.set(int(p))
				}
			}
		}
	}
	return out
}

func lowerIf(s string, ci bool) string {
	if ci {
		return strings.ToLower(s)
	}
	return s
}

func containsSeq(hay, needle []string, lastPrefix map[string]bool) bool {
	if len(needle) == 0 {
		return false
	}
	for i := 0; i+len(needle) <= len(hay); i++ {
		ok := true
		for j, t := range needle {
			if j == len(needle)-1 && lastPrefix != nil {
				ok = lastPrefix[hay[i+j]]
			} else {
				ok = hay[i+j] == t
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// eval runs one query clause.
func (e *evaluator) eval(q any) (bitset, error) {
	m, err := obj(q, "query")
	if err != nil {
		return nil, err
	}
	name, body, err := single(m)
	if err != nil {
		return nil, err
	}
	n := len(e.domain)
	switch name {
	case "match_all":
		return fullBitset(n), nil
	case "match_none":
		return newBitset(n), nil
	case "bool":
		return e.evalBool(body)
	case "constant_score":
		b, err := obj(body, name)
		if err != nil {
			return nil, err
		}
		return e.eval(b["filter"])
	case "function_score":
		b, err := obj(body, name)
		if err != nil {
			return nil, err
		}
		if rs, ok := b["random_score"].(map[string]any); ok {
			seed := uint64(0)
			switch s := rs["seed"].(type) {
			case json.Number:
				v, _ := strconv.ParseInt(string(s), 10, 64)
				seed = uint64(v)
			case string:
				h := fnv.New64a()
				h.Write([]byte(s))
				seed = h.Sum64()
			}
			e.random = &randomScore{seed: seed}
		}
		inner, ok := b["query"]
		if !ok {
			return fullBitset(n), nil
		}
		return e.eval(inner)
	case "exists":
		b, err := obj(body, name)
		if err != nil {
			return nil, err
		}
		f, _ := b["field"].(string)
		return e.leaf(e.fieldsFor(f), func(fieldRef, uint32) bool { return true }), nil
	case "ids":
		b, err := obj(body, name)
		if err != nil {
			return nil, err
		}
		want := map[string]bool{}
		if vs, ok := b["values"].([]any); ok {
			for _, v := range vs {
				if s, ok := v.(string); ok {
					want[s] = true
				}
			}
		}
		out := newBitset(n)
		for pos, d := range e.domain {
			if want[strconv.Itoa(int(d))] {
				out.set(pos)
			}
		}
		return out, nil
	case "term", "prefix", "wildcard", "regexp":
		key := "value"
		path, val, opts, err := fieldArg(body, name, key)
		if err != nil {
			return nil, err
		}
		ci := truthy(opts, "case_insensitive")
		var re *regexp.Regexp
		if name == "regexp" {
			if re, err = luceneRegexp(val, ci); err != nil {
				return nil, err
			}
		}
		var wild func(string) bool
		if name == "wildcard" {
			wild = globMatcher(lowerIf(val, ci))
		}
		match := func(s string) bool {
			switch name {
			case "term":
				return lowerIf(s, ci) == lowerIf(val, ci)
			case "prefix":
				return strings.HasPrefix(lowerIf(s, ci), lowerIf(val, ci))
			case "wildcard":
				return wild(lowerIf(s, ci))
			}
			return re.MatchString(s)
		}
		return e.leaf(e.fieldsFor(path), func(ref fieldRef, id uint32) bool {
			if ref.exact {
				return match(ref.f.dict[id])
			}
			for _, t := range ref.f.tokensOf(id) {
				if match(t) {
					return true
				}
			}
			return false
		}), nil
	case "match", "match_phrase", "match_phrase_prefix":
		path, val, opts, err := fieldArg(body, name, "query")
		if err != nil {
			return nil, err
		}
		toks := analyze(val)
		maxExp := 50
		if x, ok := opts["max_expansions"].(json.Number); ok {
			v, _ := strconv.Atoi(string(x))
			maxExp = v
		}
		and := false
		if op, ok := opts["operator"].(string); ok {
			and = strings.EqualFold(op, "and")
		}
		exp := map[*field]map[string]bool{}
		return e.leaf(e.fieldsFor(path), func(ref fieldRef, id uint32) bool {
			v := ref.f.dict[id]
			if ref.exact {
				if name == "match_phrase_prefix" {
					return strings.HasPrefix(v, val)
				}
				return v == val
			}
			hay := ref.f.tokensOf(id)
			switch name {
			case "match":
				hit := 0
				for _, t := range toks {
					for _, h := range hay {
						if h == t {
							hit++
							break
						}
					}
				}
				return hit > 0 && (!and || hit == len(toks))
			case "match_phrase":
				return containsSeq(hay, toks, nil)
			}
			if len(toks) == 0 {
				return false
			}
			x, ok := exp[ref.f]
			if !ok {
				x = expansions(ref.f, toks[len(toks)-1], maxExp)
				exp[ref.f] = x
			}
			return containsSeq(hay, toks, x)
		}), nil
	case "query_string", "simple_query_string":
		return e.queryString(body)
	}
	return nil, bad("parsing_exception", "unknown query [%s]", name)
}

// expansions are the first max terms of f, in term order, starting with
// prefix: what match_phrase_prefix expands its last term to.
func expansions(f *field, prefix string, max int) map[string]bool {
	terms := f.termDict()
	lo, hi := 0, len(terms)
	for lo < hi {
		mid := (lo + hi) / 2
		if terms[mid] < prefix {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	out := map[string]bool{}
	for i := lo; i < len(terms) && strings.HasPrefix(terms[i], prefix) && len(out) < max; i++ {
		out[terms[i]] = true
	}
	return out
}

func clauses(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func (e *evaluator) evalBool(body any) (bitset, error) {
	b, err := obj(body, "bool")
	if err != nil {
		return nil, err
	}
	n := len(e.domain)
	out := fullBitset(n)
	for _, k := range []string{"must", "filter"} {
		for _, c := range clauses(b[k]) {
			r, err := e.eval(c)
			if err != nil {
				return nil, err
			}
			out.and(r)
		}
	}
	should := clauses(b["should"])
	min := 0
	if len(should) > 0 && b["must"] == nil && b["filter"] == nil {
		min = 1
	}
	if x, ok := b["minimum_should_match"].(json.Number); ok {
		v, _ := strconv.Atoi(string(x))
		min = v
	}
	if min > 1 {
		return nil, bad("parsing_exception", "the replay evaluates minimum_should_match of 0 or 1 only")
	}
	if min == 1 {
		any := newBitset(n)
		for _, c := range should {
			r, err := e.eval(c)
			if err != nil {
				return nil, err
			}
			any.or(r)
		}
		out.and(any)
	}
	for _, c := range clauses(b["must_not"]) {
		r, err := e.eval(c)
		if err != nil {
			return nil, err
		}
		out.andNot(r)
	}
	return out, nil
}

// queryString evaluates the query_string syntax the replay knows: terms,
// "phrases" and wildcard terms, separated by blanks and joined by the
// default operator (OR), over fields (default every field: "*").
func (e *evaluator) queryString(body any) (bitset, error) {
	b, err := obj(body, "query_string")
	if err != nil {
		return nil, err
	}
	q, _ := b["query"].(string)
	fields := []string{"*"}
	if df, ok := b["default_field"].(string); ok {
		fields = []string{df}
	}
	if fs, ok := b["fields"].([]any); ok {
		fields = nil
		for _, f := range fs {
			if s, ok := f.(string); ok {
				fields = append(fields, strings.SplitN(s, "^", 2)[0])
			}
		}
	}
	and := false
	if op, ok := b["default_operator"].(string); ok {
		and = strings.EqualFold(op, "and")
	}
	var parts []string
	for rest := strings.TrimSpace(q); rest != ""; rest = strings.TrimSpace(rest) {
		if rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, bad("query_shard_exception", "Failed to parse query [%s]", q)
			}
			parts = append(parts, rest[:end+2])
			rest = rest[end+2:]
			continue
		}
		i := strings.IndexAny(rest, " \t\n")
		if i < 0 {
			i = len(rest)
		}
		parts = append(parts, rest[:i])
		rest = rest[i:]
	}
	n := len(e.domain)
	out := newBitset(n)
	if and {
		out = fullBitset(n)
	}
	for _, p := range parts {
		var sub []any
		for _, f := range fields {
			var c map[string]any
			switch {
			case p == "*":
				c = map[string]any{"match_all": map[string]any{}}
			case strings.HasPrefix(p, `"`):
				c = map[string]any{"match_phrase": map[string]any{f: strings.Trim(p, `"`)}}
			case strings.ContainsAny(p, "*?"):
				c = map[string]any{"wildcard": map[string]any{f: map[string]any{"value": p, "case_insensitive": true}}}
			case strings.ContainsAny(p, `+-=&|><!(){}[]^~:\/`):
				return nil, bad("query_shard_exception", "Failed to parse query [%s]: the replay knows terms, phrases and wildcards only", q)
			default:
				c = map[string]any{"match": map[string]any{f: p}}
			}
			sub = append(sub, c)
		}
		r, err := e.eval(map[string]any{"bool": map[string]any{"should": sub}})
		if err != nil {
			return nil, err
		}
		if and {
			out.and(r)
		} else {
			out.or(r)
		}
	}
	return out, nil
}

// luceneRegexp compiles a Lucene regular expression (Elasticsearch's
// regexp syntax: . ? + * | { } [ ] ( ) " \ reserved, no anchors: the
// expression matches a whole term) as an anchored Go regexp; the optional
// operators (# @ & < > ~) are refused.
func luceneRegexp(s string, ci bool) (*regexp.Regexp, error) {
	var b strings.Builder
	if ci {
		b.WriteString("(?i)")
	}
	b.WriteString(`^(?:`)
	inClass := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(regexp.QuoteMeta(string(s[i])))
		case c == '"' && !inClass:
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, bad("query_shard_exception", "failed to create query: expected '\"' at position %d", len(s))
			}
			b.WriteString(regexp.QuoteMeta(s[i+1 : i+1+end]))
			i += end + 1
		case c == '[':
			inClass = true
			b.WriteByte(c)
		case c == ']':
			inClass = false
			b.WriteByte(c)
		case strings.IndexByte("#@&<>~", c) >= 0 && !inClass:
			return nil, bad("query_shard_exception", "failed to create query: the replay does not run the optional operator %q", c)
		case c == '^' || c == '$':
			if inClass && c == '^' && i > 0 && s[i-1] == '[' {
				b.WriteByte(c)
			} else {
				b.WriteString(`\` + string(c))
			}
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, bad("query_shard_exception", "failed to create query: %v", err)
	}
	return re, nil
}
