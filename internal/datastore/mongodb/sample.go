package mongodb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on sampling; a Sample's Limits narrow them.
const (
	valueByteCap     = 8192 // bytes of one value kept
	maxColumns       = 512  // field paths of one sample
	maxSearchFields  = 64   // field paths a $regex filter names
	maxSampledTables = 200
	// searchBudget bounds all the search queries of one collection
	// (maxTimeMS and our own clock): past it, the keys not yet searched are
	// said to be so. FerretDB on SQLite filters a few thousand documents a
	// second, and a pattern nothing holds makes it read them all.
	searchBudget = 6 * time.Second
	// searchRounds: keys still short of documents are searched again,
	// without those already satisfied, at most this many times.
	searchRounds = 2
	// maxRoundDocs caps the documents one search query returns.
	maxRoundDocs = 500
	// maxAlternation caps the pattern of one query (keys joined by |): a
	// regular expression of hundreds of alternatives costs the server far
	// more a document than a few of a few dozen each.
	maxAlternation = 1536
	// maxSkip bounds the random offset of the documents read at random on
	// a server without $sample: skipping costs the server a read of each.
	maxSkip   = 2000
	learnDocs = 20
)

// Sample implements datastore.Session. It reads lim.Random documents at
// random ($sample; on servers without it, a window at a random offset),
// learns the collection's text fields from them, then has the server
// filter documents with $regex on those fields for every keyword (escaped)
// and pattern, all keys of a round in one bounded find (limit, batchSize,
// maxTimeMS, byte cap), keeping up to lim.Rows documents a key. Documents
// come back as rows whose columns are field paths (messages.1.content).
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
	for _, c := range rows.Columns {
		held += 16 + int64(len(c))
	}
	s.rowsHeld = held
	s.mem.reset(s.invHeld + s.rowsHeld)
	return rows, err
}

// key is one keyword or pattern: its name as Limits gave it, the pattern
// sent, and the same compiled here to tell which documents hold it (nil
// where Go cannot compile the server's dialect).
type key struct {
	name, pattern string
	re            *regexp.Regexp
	literal       string
	kept          int
}

func (k *key) in(texts []string) bool {
	for _, t := range texts {
		if k.re != nil && k.re.MatchString(t) || k.re == nil && k.literal != "" && strings.Contains(t, k.literal) {
			return true
		}
	}
	return false
}

func (s *Session) sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	out := datastore.Rows{Counts: map[string]int64{}}
	if t.Kind != "collection" || strings.HasPrefix(t.Name, "system.") || t.Rows == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if s.sampled >= maxSampledTables {
		return out, fmt.Errorf("%s not sampled (at most %d collections a session): %w", t.QualifiedName(), maxSampledTables, datastore.ErrSessionCap)
	}
	s.sampled++
	budget := lim.Bytes
	if budget <= 0 {
		budget = 32 << 20
	}
	initial := budget
	timeout := lim.Timeout
	if timeout <= 0 || timeout > s.timeout {
		timeout = s.timeout
	}
	var docs []Document
	seen := map[string]bool{}
	keep := func(d Document) bool {
		id, _ := d.Get("_id")
		k := string(id.Raw)
		if seen[k] {
			return false
		}
		seen[k] = true
		docs = append(docs, d)
		return true
	}
	// read runs one cursor command within what is left of the budget.
	readUntil := func(c doc, n int, what string, until time.Time) ([]Document, error) {
		if budget <= 0 {
			return nil, nil
		}
		got, _, b, err := s.cursorUntil(ctx, t.Database, c, t.Name, n, int(min(budget, 48<<20)), until)
		budget -= b
		out.ReadBytes = datastore.AddCount(out.ReadBytes, b)
		var ce *capError
		if errors.As(err, &ce) {
			out.Truncation = append(out.Truncation, what+": "+ce.Error())
			return nil, nil
		}
		return got, err
	}
	read := func(c doc, n int, what string) ([]Document, error) { return readUntil(c, n, what, time.Time{}) }
	ms := func(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

	// 1. Documents at random.
	var random []Document
	if lim.Random > 0 {
		var err error
		if !s.noSample {
			random, err = read(doc{{"aggregate", t.Name}, {"pipeline", arr{doc{{"$sample", doc{{"size", int32(lim.Random)}}}}}},
				{"cursor", doc{{"batchSize", int32(lim.Random)}}}, {"maxTimeMS", ms(timeout)}}, lim.Random, "documents at random")
			var ce *CommandError
			if errors.As(err, &ce) && ce.Code != codeMaxTimeMSExpired {
				s.noSample, err = true, nil
			}
		}
		if s.noSample {
			off := 0
			if t.Rows > int64(lim.Random) {
				off = rand.IntN(int(min(t.Rows-int64(lim.Random), maxSkip)) + 1)
			}
			random, err = read(doc{{"find", t.Name}, {"skip", int64(off)}, {"limit", int64(lim.Random)}, {"batchSize", int32(lim.Random)},
				{"singleBatch", true}, {"maxTimeMS", ms(timeout)}}, lim.Random, "documents at random")
			if t.Rows > int64(lim.Random)+maxSkip {
				out.Truncation = append(out.Truncation, fmt.Sprintf("the server has no $sample: documents at random are a window at a random offset within the first %d", maxSkip+lim.Random))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			out.Truncation = append(out.Truncation, "documents at random not read: "+err.Error())
		}
	}
	// 2. The text fields, learned from documents read.
	learn := random
	if len(learn) == 0 && (len(lim.Keywords) > 0 || len(lim.Patterns) > 0) {
		var err error
		learn, err = read(doc{{"find", t.Name}, {"limit", int64(learnDocs)}, {"batchSize", int32(learnDocs)}, {"singleBatch", true},
			{"maxTimeMS", ms(timeout)}}, learnDocs, "documents to learn fields from")
		if err != nil {
			out.Truncation = append(out.Truncation, "fields not learned: "+err.Error())
		}
	}
	fields := textFields(learn)
	// 3. Documents holding each key, searched on the server.
	var keys []*key
	for _, k := range lim.Keywords {
		if k != "" {
			q := regexp.QuoteMeta(k)
			keys = append(keys, &key{name: k, pattern: q, literal: k})
		}
	}
	for _, p := range lim.Patterns {
		if p != "" {
			re, _ := regexp.Compile(p)
			keys = append(keys, &key{name: p, pattern: p, re: re})
		}
	}
	perKey := max(lim.Rows, 1)
	var matched []Document
	if len(keys) > 0 && len(fields) > 0 {
		matched = s.search(ctx, t, keys, fields, perKey, timeout, readUntil, &out)
	}
	for _, d := range matched {
		keep(d)
	}
	for _, d := range random {
		keep(d)
	}
	for _, k := range keys {
		if k.kept > 0 {
			out.Counts[k.name] = int64(k.kept)
		}
	}
	// 4. Rows: every leaf with text, by field path.
	col := map[string]int{}
	var cells []map[int]string
	for _, d := range docs {
		row := map[int]string{}
		flatten(d, "", func(path, text string) {
			i, ok := col[path]
			if !ok {
				if len(out.Columns) >= maxColumns {
					return
				}
				i = len(out.Columns)
				col[path] = i
				out.Columns = append(out.Columns, path)
			}
			row[i] = text
		}, 0)
		cells = append(cells, row)
	}
	for _, r := range cells {
		v := make([]string, len(out.Columns))
		for i, x := range r {
			v[i] = x
		}
		out.Values = append(out.Values, v)
	}
	out.ReadRows = int64(len(out.Values))
	if budget <= 0 {
		out.Truncation = append(out.Truncation, fmt.Sprintf("read budget of %d bytes spent", initial))
	}
	return out, nil
}

// search runs the $regex rounds: each round one find per group of keys
// (their patterns joined by |, on every text field), keeping a document
// while a key it holds has fewer than perKey; keys satisfied leave the
// next round. A round that came back short of its limit read every
// document holding its keys: no later round would find more.
func (s *Session) search(ctx context.Context, t datastore.Table, keys []*key, fields []string, perKey int, timeout time.Duration,
	readUntil func(doc, int, string, time.Time) ([]Document, error), out *datastore.Rows) []Document {
	var kept []Document
	seen := map[string]bool{}
	// Patterns (the shapes of secrets and personal data) first, then the
	// keywords.
	pending := append(slices.Clone(keys[len(keys)-countPatterns(keys):]), keys[:len(keys)-countPatterns(keys)]...)
	deadline := time.Now().Add(searchBudget)
	for round := 0; round < searchRounds && len(pending) > 0; round++ {
		complete := true
		groups := datastore.Batches(pending, func(k *key) int { return len(k.pattern) + 5 }, maxAlternation)
		for gi, group := range groups {
			if ctx.Err() != nil {
				out.Truncation = append(out.Truncation, "search stopped: "+ctx.Err().Error())
				return kept
			}
			if time.Now().After(deadline) {
				left := 0
				for _, g := range groups[gi:] {
					left += len(g)
				}
				out.Truncation = append(out.Truncation, fmt.Sprintf("search budget of %s spent: %d keys not searched in round %d", searchBudget, left, round+1))
				return kept
			}
			parts := make([]string, len(group))
			for i, k := range group {
				parts[i] = "(?:" + k.pattern + ")"
			}
			alt := strings.Join(parts, "|")
			or := make(arr, len(fields))
			for i, f := range fields {
				or[i] = doc{{f, doc{{"$regex", alt}}}}
			}
			n := min(perKey*len(group), maxRoundDocs)
			// Small batches: the server hands over each as soon as it has
			// found it, so a search cut by time keeps what it found.
			// Each group its share of what is left of the budget.
			left := time.Until(deadline) / time.Duration(len(groups)-gi)
			got, err := readUntil(doc{{"find", t.Name}, {"filter", doc{{"$or", or}}}, {"limit", int64(n)}, {"batchSize", int32(min(n, max(perKey, 8)))},
				{"maxTimeMS", max(min(timeout, left).Milliseconds(), 1)}}, n, "documents holding keys", time.Now().Add(left))
			var ce *CommandError
			switch {
			case errors.As(err, &ce) && ce.Code == codeMaxTimeMSExpired:
				out.Truncation = append(out.Truncation, fmt.Sprintf("search for %d keys stopped at maxTimeMS %d with %d documents", len(group), min(timeout, left).Milliseconds(), len(got)))
				complete = false
			case err != nil:
				out.Truncation = append(out.Truncation, fmt.Sprintf("search for %d keys failed: %v", len(group), err))
				complete = false
			}
			if len(got) >= n {
				complete = false
			}
			for _, d := range got {
				id, _ := d.Get("_id")
				if seen[string(id.Raw)] {
					continue
				}
				var texts []string
				flatten(d, "", func(_, text string) { texts = append(texts, text) }, 0)
				wanted := false
				for _, k := range group {
					if k.kept < perKey && k.in(texts) {
						k.kept++
						wanted = true
					}
				}
				if wanted {
					seen[string(id.Raw)] = true
					kept = append(kept, d)
				}
			}
		}
		if complete {
			break
		}
		var next []*key
		for _, k := range pending {
			// A key Go cannot compile cannot be told satisfied: one round.
			if k.kept < perKey && (k.re != nil || k.literal != "") {
				next = append(next, k)
			}
		}
		pending = next
	}
	return kept
}

func countPatterns(keys []*key) int {
	n := 0
	for _, k := range keys {
		if k.literal == "" {
			n++
		}
	}
	return n
}

// textFields are the paths of string leaves in docs, array indexes
// dropped (messages.content matches every element's content), at most
// maxSearchFields of them, in the order first seen.
func textFields(docs []Document) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range docs {
		walk(d, "", func(path string, v Value) {
			if v.Type != 0x02 || seen[path] || len(out) >= maxSearchFields {
				return
			}
			seen[path] = true
			out = append(out, path)
		}, 0, true)
	}
	return out
}

// flatten calls emit for every leaf with text, named by its full path
// with array indexes (messages.1.content), each value cut at valueByteCap.
func flatten(d Document, prefix string, emit func(path, text string), depth int) {
	walk(d, prefix, func(path string, v Value) {
		if txt, ok := v.Text(); ok {
			emit(path, clean(txt, valueByteCap))
		}
	}, depth, false)
}

func walk(d Document, prefix string, leaf func(string, Value), depth int, dropIndexes bool) {
	if depth > maxDepth {
		return
	}
	for _, e := range d {
		if dropIndexes && !safeField(e.Key) {
			continue // a name the query language would read as an operator or a path
		}
		path := e.Key
		if prefix != "" {
			path = prefix + "." + e.Key
		}
		switch e.Val.Type {
		case 0x03:
			walk(e.Val.Doc, path, leaf, depth+1, dropIndexes)
		case 0x04:
			for _, x := range e.Val.Doc {
				p := path + "." + x.Key
				if dropIndexes {
					p = path
				}
				if x.Val.Type == 0x03 {
					walk(x.Val.Doc, p, leaf, depth+1, dropIndexes)
				} else if x.Val.Type == 0x04 {
					walk(Document{{Key: x.Key, Val: x.Val}}, path, leaf, depth+1, dropIndexes)
				} else {
					leaf(p, x.Val)
				}
			}
		default:
			leaf(path, e.Val)
		}
	}
}

// safeField reports whether a field name can go into a filter as a path
// component: not empty, no dot (a path separator), no leading $ (an
// operator: a field named $where must never reach the server as one).
func safeField(k string) bool {
	return k != "" && !strings.HasPrefix(k, "$") && !strings.Contains(k, ".") && !strings.ContainsRune(k, 0)
}
