package classify

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Rows by distinct value are asked for only of a session that declares it
// can fetch them, one entry per keyword rule, each carrying what accept
// rejects as a placeholder.
func TestLimitsDistinct(t *testing.T) {
	e := Default()
	pd := datastore.Pushdown{Substring: true, Regex: datastore.DialectRE2, Counts: true}
	if lim, _ := e.Limits(datastore.Limits{}, pd); lim.Distinct != nil {
		t.Errorf("Limits(%+v).Distinct = %d entries, want none", pd, len(lim.Distinct))
	}
	pd.Distinct = true
	lim, _ := e.Limits(datastore.Limits{}, pd)
	for _, id := range []string{"aws-access-key-id", "connection-string-password", "gitlab-personal-access-token"} {
		x, ok := lim.Distinct[ExactKey(id)]
		if !ok {
			t.Fatalf("Limits(%+v).Distinct has no entry for %s", pd, id)
		}
		if len(x.Keywords) == 0 || x.Pattern == "" {
			t.Errorf("Distinct[%s] = %+v, want keywords and a pattern", id, x)
		}
	}
	// The exact counts hold, besides one per keyword rule, one per chat
	// pair keyword (rows where such a key holds a conversation).
	if len(lim.Distinct) != len(lim.Exact)-len(PairKeywords()) {
		t.Errorf("Limits: %d distinct entries, %d exact counts (%d of them chat pairs); want one of each per keyword rule", len(lim.Distinct), len(lim.Exact), len(PairKeywords()))
	}
}

// Every value the server leaves out as a placeholder is one accept
// rejects: the list may miss placeholders, never drop a real value.
func TestPlaceholdersAreRejected(t *testing.T) {
	for _, r := range Default().Rules() {
		re := regexp.MustCompile(r.Pattern)
		for _, ex := range append(slices.Clone(r.Examples), r.NegativeExamples...) {
			for _, m := range re.FindAllStringSubmatch(ex, -1) {
				v := m[1]
				if v == "" || !slices.ContainsFunc(r.Placeholders(), func(p string) bool { return strings.Contains(v, p) }) {
					continue
				}
				if _, ok := r.accept(v); ok {
					t.Errorf("rule %s: %q holds a placeholder the server skips, but accept keeps it", r.ID, v)
				}
			}
		}
	}
	aws := Default().Rules()[slices.IndexFunc(Default().Rules(), func(r *Rule) bool { return r.ID == "aws-access-key-id" })]
	if !slices.ContainsFunc(aws.Placeholders(), func(p string) bool { return strings.Contains("AKIAIOSFODNN7EXAMPLE", p) }) {
		t.Errorf("aws-access-key-id placeholders %q do not cover AKIAIOSFODNN7EXAMPLE", aws.Placeholders())
	}
	cs := Default().Rules()[slices.IndexFunc(Default().Rules(), func(r *Rule) bool { return r.ID == "connection-string-password" })]
	if !slices.Contains(cs.Placeholders(), ":password@") {
		t.Errorf("connection-string-password placeholders %q lack :password@", cs.Placeholders())
	}
}
