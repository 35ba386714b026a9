// Package esreplay is the lab's stand-in for Elasticsearch and OpenSearch,
// which cannot be installed on the project's machines: an HTTP server that
// answers the requests leakhound's driver makes with the response shapes
// of Elastic's and OpenSearch's public API documentation, and evaluates
// the queries it is sent over documents it really holds (so that counts,
// pushdown and sampling are computed, never canned).
//
// It is run by the lab as its own process (leakhound-lab esreplay -seed
// FILE), one per lab server, from a seed file the lab writes.
//
// Sources of the shapes replayed, each cited where it is written:
//   - elastic/elasticsearch: rest-api-spec/src/main/resources/rest-api-spec/api/*.json
//     and docs/reference (root info, cat indices, search, count, mapping,
//     security authenticate and has_privileges, error responses);
//   - opensearch-project/documentation-website: _api-reference (root,
//     cat indices, search), _security/access-control/api.md (authinfo);
//   - elastic/kibana: docs/api/status (Kibana's /api/status).
package esreplay

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// none marks a document without a value for a field.
const none = ^uint32(0)

// field is one field path of an index, stored as a column: a dictionary of
// distinct values and, per document, the index of its value (or none).
type field struct {
	path    string
	typ     string // text, keyword, long, double, boolean, date
	keyword bool   // a text field with a keyword sub-field (ignore_above 256), as dynamic mapping makes
	dict    []string
	lookup  map[string]uint32
	ids     []uint32
	tokens  [][]string // of each dict entry, for text fields, made on first use
	terms   []string   // sorted distinct tokens, made on first use
	// all groups every document by value, made on first use by a query
	// over the whole index (fields never change once laid out).
	once sync.Once
	all  *group
}

func (f *field) add(doc int, v string) {
	if f.lookup == nil {
		f.lookup = map[string]uint32{}
	}
	id, ok := f.lookup[v]
	if !ok {
		id = uint32(len(f.dict))
		f.dict = append(f.dict, v)
		f.lookup[v] = id
	}
	for len(f.ids) <= doc {
		f.ids = append(f.ids, none)
	}
	f.ids[doc] = id
}

func (f *field) value(doc int) (string, bool) {
	if doc >= len(f.ids) || f.ids[doc] == none {
		return "", false
	}
	return f.dict[f.ids[doc]], true
}

func (f *field) tokensOf(id uint32) []string {
	if f.tokens == nil {
		f.tokens = make([][]string, len(f.dict))
	}
	if f.tokens[id] == nil {
		f.tokens[id] = append(analyze(f.dict[id]), []string{}...)
	}
	return f.tokens[id]
}

func (f *field) termDict() []string {
	if f.terms == nil {
		seen := map[string]bool{}
		for id := range f.dict {
			for _, t := range f.tokensOf(uint32(id)) {
				seen[t] = true
			}
		}
		f.terms = make([]string, 0, len(seen))
		for t := range seen {
			f.terms = append(f.terms, t)
		}
		sort.Strings(f.terms)
	}
	return f.terms
}

// index is one index: its documents as columns.
type index struct {
	name, uuid string
	n          int
	fields     []*field
	byPath     map[string]*field
	bytes      int64 // the documents' _source bytes, reported as store.size
	created    time.Time
}

func newIndex(name, uuid string) *index {
	return &index{name: name, uuid: uuid, byPath: map[string]*field{}, created: time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)}
}

func (ix *index) field(path, typ string, keyword bool) *field {
	if f := ix.byPath[path]; f != nil {
		return f
	}
	f := &field{path: path, typ: typ, keyword: keyword}
	ix.fields = append(ix.fields, f)
	ix.byPath[path] = f
	return f
}

// addDoc flattens a JSON object into the index's columns, mapping unseen
// fields as Elasticsearch's dynamic mapping does: strings as text with a
// keyword sub-field, numbers as long or float, booleans as boolean.
func (ix *index) addDoc(doc map[string]any) error {
	d := ix.n
	ix.n++
	var walk func(prefix string, m map[string]any) error
	size := int64(2)
	walk = func(prefix string, m map[string]any) error {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			path := prefix + k
			size += int64(len(k)) + 4
			switch v := m[k].(type) {
			case map[string]any:
				if err := walk(path+".", v); err != nil {
					return err
				}
			case string:
				ix.field(path, "text", true).add(d, v)
				size += int64(len(v)) + 2
			case json.Number:
				typ := "long"
				if strings.ContainsAny(string(v), ".eE") {
					typ = "float"
				}
				ix.field(path, typ, false).add(d, string(v))
				size += int64(len(v))
			case bool:
				ix.field(path, "boolean", false).add(d, strconv.FormatBool(v))
				size += 5
			case nil:
			default:
				return fmt.Errorf("index %s: field %s: the replay holds objects, strings, numbers and booleans, not %T", ix.name, path, v)
			}
		}
		return nil
	}
	if err := walk("", doc); err != nil {
		return err
	}
	ix.bytes += size
	return nil
}

// source renders document d's _source, keeping only the paths include
// accepts.
func (ix *index) source(d int, include func(string) bool) map[string]any {
	out := map[string]any{}
	for _, f := range ix.fields {
		v, ok := f.value(d)
		if !ok || !include(f.path) {
			continue
		}
		parts := strings.Split(f.path, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		switch f.typ {
		case "long", "float", "double":
			m[parts[len(parts)-1]] = json.Number(v)
		case "boolean":
			m[parts[len(parts)-1]] = v == "true"
		default:
			m[parts[len(parts)-1]] = v
		}
	}
	return out
}

// ChatSpec generates a chat-log index: Docs documents, deterministic for
// Seed, each a message of a session. One document in Every carries one of
// Specials (a prompt holding a key or personal data) instead of a plain
// prompt.
type ChatSpec struct {
	Docs      int      `json:"docs"`
	Seed      uint64   `json:"seed"`
	Prompts   []string `json:"prompts"`
	Responses []string `json:"responses"`
	Models    []string `json:"models"`
	Users     []string `json:"users"`
	Specials  []string `json:"specials"`
	Every     int      `json:"every"`
	Start     string   `json:"start"` // RFC 3339, the first message's time
}

// generate fills ix from spec, column by column: a million documents in
// about a second, held in a few tens of MB.
func (ix *index) generate(spec ChatSpec) error {
	if spec.Docs <= 0 || len(spec.Prompts) == 0 || len(spec.Responses) == 0 || len(spec.Models) == 0 || len(spec.Users) == 0 {
		return fmt.Errorf("index %s: a chat spec needs docs, prompts, responses, models and users", ix.name)
	}
	t0, err := time.Parse(time.RFC3339, spec.Start)
	if err != nil {
		return fmt.Errorf("index %s: start: %w", ix.name, err)
	}
	r := rand.New(rand.NewPCG(spec.Seed, 2025))
	n := spec.Docs
	ts := ix.field("@timestamp", "date", false)
	sess := ix.field("session_id", "keyword", false)
	user := ix.field("user.email", "keyword", false)
	model := ix.field("model", "keyword", false)
	prompt := ix.field("prompt", "text", true)
	resp := ix.field("response", "text", true)
	// Dictionaries are laid out directly: no per-document map lookups.
	prompt.dict = append(slices.Clone(spec.Prompts), spec.Specials...)
	resp.dict = slices.Clone(spec.Responses)
	model.dict = slices.Clone(spec.Models)
	user.dict = slices.Clone(spec.Users)
	sessions := (n + 19) / 20
	sess.dict = make([]string, sessions)
	for i := range sess.dict {
		sess.dict[i] = fmt.Sprintf("conv-%07d", i)
	}
	ts.dict = make([]string, n)
	for _, f := range []*field{ts, sess, user, model, prompt, resp} {
		f.ids = make([]uint32, n)
		f.lookup = nil
	}
	var size int64
	for i := range n {
		ts.dict[i] = t0.Add(time.Duration(i) * 2592 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		ts.ids[i] = uint32(i)
		sess.ids[i] = uint32(i / 20)
		user.ids[i] = uint32((i / 20) % len(spec.Users))
		model.ids[i] = uint32(r.IntN(len(spec.Models)))
		p := uint32(r.IntN(len(spec.Prompts)))
		if spec.Every > 0 && len(spec.Specials) > 0 && i%spec.Every == spec.Every/2 {
			p = uint32(len(spec.Prompts) + (i/spec.Every)%len(spec.Specials))
		}
		prompt.ids[i] = p
		resp.ids[i] = uint32(r.IntN(len(spec.Responses)))
		size += 2 + int64(len(ts.dict[i])+len(sess.dict[sess.ids[i]])+len(user.dict[user.ids[i]])+len(model.dict[model.ids[i]])+
			len(prompt.dict[p])+len(resp.dict[resp.ids[i]])) + 6*4 + 80
	}
	ix.n = n
	ix.bytes = size
	return nil
}

// analyze approximates the standard analyzer: the standard tokenizer's
// word boundaries (letters and digits, joined across '_', and across '.'
// or '\” between letters or between digits, as Unicode text segmentation
// does; each Han, Hiragana or Katakana character a token of its own),
// then lower-casing.
func analyze(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
			flush()
			out = append(out, string(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			cur = append(cur, r)
		case (r == '.' || r == '\'') && len(cur) > 0 && i+1 < len(rs):
			prev, next := cur[len(cur)-1], rs[i+1]
			if (unicode.IsLetter(prev) && unicode.IsLetter(next)) || (unicode.IsDigit(prev) && unicode.IsDigit(next)) {
				cur = append(cur, r)
			} else {
				flush()
			}
		default:
			flush()
		}
	}
	flush()
	return out
}

// globMatcher compiles a wildcard pattern: *literal*, literal* and
// literal take the fast paths a wildcard query mostly needs.
func globMatcher(pattern string) func(string) bool {
	if !strings.ContainsAny(pattern, "\\?") {
		inner := strings.Trim(pattern, "*")
		if !strings.Contains(inner, "*") {
			lead, trail := strings.HasPrefix(pattern, "*"), strings.HasSuffix(pattern, "*") && len(pattern) > 1
			switch {
			case lead && trail:
				return func(s string) bool { return strings.Contains(s, inner) }
			case trail:
				return func(s string) bool { return strings.HasPrefix(s, inner) }
			case lead:
				return func(s string) bool { return strings.HasSuffix(s, inner) }
			default:
				return func(s string) bool { return s == inner }
			}
		}
	}
	return func(s string) bool { return glob(pattern, s) }
}

// glob matches a Lucene wildcard pattern: * any run, ? one character, \
// escapes the next.
func glob(pattern, s string) bool {
	var p []rune
	var lit []bool
	for i := 0; i < len(pattern); {
		r, n := utf8.DecodeRuneInString(pattern[i:])
		i += n
		if r == '\\' && i < len(pattern) {
			r, n = utf8.DecodeRuneInString(pattern[i:])
			i += n
			p, lit = append(p, r), append(lit, true)
			continue
		}
		p, lit = append(p, r), append(lit, false)
	}
	str := []rune(s)
	// Iterative matching with backtracking on the last star.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && !lit[pi] && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && ((!lit[pi] && p[pi] == '?') || p[pi] == str[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && !lit[pi] && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
