package classify

import (
	"slices"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on what one server can add to a report: distinct values listed
// per kind in one table, and in all. Sizes come from counts, not from the
// list.
const (
	MaxDetectionsPerKind = 20
	MaxDetections        = 2000
)

// lowWeight kinds are reported but do not make a table hold personal data:
// an access log full of addresses is not a leak of people.
var lowWeight = map[string]bool{"ip_address": true}

// ExactKey names a rule's exact count (datastore.Limits.Exact) among a
// sample's counts.
func ExactKey(rule string) string { return "rule:" + rule }

// Found is a detection in the records read back from a table: in which
// column, at which record (1-based, among those read), and how often its
// value was seen in that column.
type Found struct {
	Detection
	Column      string
	Row         int64
	Occurrences int
}

// Sizing is how a table's leaks are counted: Server where the server
// counted rows over the whole table (rows.Counts), Sample where only the
// records read back are counted.
type Sizing int

const (
	Server Sizing = iota
	Sample
)

// Size classifies the records read back from t, sets t's classes and its
// leak counts (with LeaksCounted), and returns its detections, one per value
// and column; have is how many the server's other tables already hold, for
// the MaxDetections bound.
//
// Server counts: for each kind confirmed in the records read, the server's
// count of rows matching a confirmed rule's full pattern; failing that, of
// rows holding one of the kind's keywords or pushdown patterns. Sample
// counts: the records read holding the kind.
func (e *Engine) Size(t *datastore.Table, rows datastore.Rows, sizing Sizing, have int) []Found {
	type key struct{ fp, col string }
	index := map[key]int{}
	var out []Found
	classes := map[string]bool{}
	perKind := map[string]int{}
	rowsOf := map[string]map[int]bool{} // kind → records holding it
	rules := map[string]string{}        // rule → its kind, of every value found, listed or not
	seen := func(ri int, d Detection) {
		if rowsOf[d.Kind] == nil {
			rowsOf[d.Kind] = map[int]bool{}
		}
		rowsOf[d.Kind][ri] = true
		rules[d.Rule] = d.Kind
	}
	for ri, row := range rows.Values {
		for ci, v := range row {
			if ci >= len(rows.Columns) {
				break
			}
			ds, _ := e.scan(v, func(d Detection) { seen(ri, d) }) // counted kinds: sized, not listed
			for _, d := range ds {
				if !lowWeight[d.Kind] {
					classes[d.Category] = true
				}
				seen(ri, d)
				k := key{d.Fingerprint, rows.Columns[ci]}
				if i, ok := index[k]; ok {
					out[i].Occurrences++
					continue
				}
				if have+len(out) >= MaxDetections || perKind[d.Kind] >= MaxDetectionsPerKind {
					continue
				}
				perKind[d.Kind]++
				index[k] = len(out)
				out = append(out, Found{Detection: d, Column: rows.Columns[ci], Row: int64(ri + 1), Occurrences: 1})
			}
		}
	}
	chat := judgeChat(rows.Columns, rows.Values)
	if chat.ok {
		classes["chat_log"] = true
		t.Conversations = chat.places
	}
	for _, c := range []string{"chat_log", "secret", "pii"} {
		// A driver may have set a class on sight (etcd's Kubernetes
		// Secrets): it is kept, once.
		if classes[c] && !slices.Contains(t.Classes, c) {
			t.Classes = append(t.Classes, c)
		}
	}
	// A counted kind is context: its number goes to t.Context, not to
	// t.Leaks, counted the same way.
	leak := func(kind string, n int64) {
		to := &t.Leaks
		if e.counted[kind] {
			to = &t.Context
		}
		if *to == nil {
			*to = map[string]int64{}
		}
		(*to)[kind] = max((*to)[kind], n)
	}
	if sizing == Sample {
		for kind, rs := range rowsOf {
			leak(kind, int64(len(rs)))
		}
		if chat.ok {
			leak("chat_log", int64(len(chat.rows)))
		}
	} else {
		e.serverCounts(rows, rules, chat, leak)
	}
	if len(t.Leaks)+len(t.Context) > 0 {
		t.LeaksCounted = map[Sizing]string{Server: "server", Sample: "sample"}[sizing]
		if sizing == Server && rows.Estimated {
			t.LeaksCounted = "estimate"
		}
	}
	return out
}

// serverCounts sizes the kinds of rules (rule → kind), found in the
// records read, from the server's counts. Every kind found is sized, those
// past the bounds on detections listed included.
func (e *Engine) serverCounts(rows datastore.Rows, rules map[string]string, chat chatVerdict, leak func(string, int64)) {
	found := map[string]bool{}
	for _, kind := range rules {
		found[kind] = true
	}
	exact := map[string]bool{}
	for rule, kind := range rules {
		if n, ok := rows.Counts[ExactKey(rule)]; ok {
			if !exact[kind] {
				leak(kind, 0)
				exact[kind] = true
			}
			leak(kind, n)
		}
	}
	kinds := e.Kinds()
	for k, n := range rows.Counts {
		for _, kind := range kinds[k] {
			if found[kind] && !exact[kind] && n > 0 {
				leak(kind, n)
			}
		}
	}
	// Conversations: the rows holding a chat keyword that carried a
	// message judged in the rows read; where those rows named a
	// conversation (a chat span), the rows holding both, when counted.
	for kw, context := range chat.carriers {
		if !chat.ok {
			break
		}
		n := rows.Counts[kw]
		if c, ok := rows.Counts[chatExactKey(kw)]; ok && context && c > 0 {
			n = c
		}
		if n > 0 {
			leak("chat_log", n)
		}
	}
}
