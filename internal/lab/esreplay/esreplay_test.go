package esreplay

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAnalyze(t *testing.T) {
	for in, want := range map[string][]string{
		"Bearer sk-proj-Ab_9":       {"bearer", "sk", "proj", "ab_9"},
		"hooks.slack.com/services/": {"hooks.slack.com", "services"},
		"帮我写 email":                 {"帮", "我", "写", "email"},
		"v1.2.3 don't":              {"v1.2.3", "don't"},
		"AKIAIOSFODNN7EXAMPLE, ok.": {"akiaiosfodnn7example", "ok"},
	} {
		if got := analyze(in); !slices.Equal(got, want) {
			t.Errorf("analyze(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{{"*sk-*", "a sk-proj", true}, {"*sk-*", "ask", false}, {"a?c", "abc", true}, {`*\**`, "x*y", true}, {`*\**`, "xy", false}, {"ab*", "abc", true}, {"*", "", true}} {
		if got := glob(c.p, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.p, c.s, got)
		}
		if got := globMatcher(c.p)(c.s); got != c.want {
			t.Errorf("globMatcher(%q)(%q) = %v", c.p, c.s, got)
		}
	}
}

func testServer(t *testing.T, security string) (*Server, string) {
	journal := filepath.Join(t.TempDir(), "journal")
	docs := []map[string]any{
		{"msg": "my key is AKIAIOSFODNN7EXAMPLE", "user": map[string]any{"email": "a@example.com"}},
		{"msg": "hello world", "user": map[string]any{"email": "b@example.com"}},
		{"msg": strings.Repeat("x", 300) + " sk-proj-abc", "n": json.Number("3")},
	}
	s, err := New(Seed{Product: "elasticsearch", Version: "7.17.25", ClusterName: "c", Security: security, Admin: "lab:pw",
		Indices: []IndexSeed{{Name: "logs", Docs: docs}}}, journal)
	if err != nil {
		t.Fatal(err)
	}
	return s, journal
}

func do(s *Server, method, path, body string) (int, map[string]any) {
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m
}

func count(t *testing.T, s *Server, query string) int {
	t.Helper()
	code, m := do(s, "GET", "/logs/_count", `{"query":`+query+`}`)
	if code != 200 {
		t.Fatalf("_count %s = %d %v", query, code, m)
	}
	n, _ := m["count"].(float64)
	return int(n)
}

// TestQueries: what the driver sends is evaluated, not canned.
func TestQueries(t *testing.T) {
	s, _ := testServer(t, "off")
	for q, want := range map[string]int{
		`{"match_all":{}}`: 3,
		`{"match_phrase_prefix":{"msg":{"query":"AKIA","max_expansions":1024}}}`:                           1,
		`{"match_phrase_prefix":{"msg":{"query":"AKIA","max_expansions":0}}}`:                              0,
		`{"match_phrase":{"msg":"hello world"}}`:                                                           1,
		`{"match_phrase":{"msg":"world hello"}}`:                                                           0,
		`{"wildcard":{"user.email.keyword":{"value":"*@example*"}}}`:                                       2,
		`{"wildcard":{"user.email":{"value":"*@example*"}}}`:                                               0, // a text field: terms, not values
		`{"wildcard":{"msg.keyword":{"value":"*sk-proj-*"}}}`:                                              0, // past ignore_above
		`{"match_phrase_prefix":{"msg":{"query":"sk-proj-"}}}`:                                             1,
		`{"regexp":{"msg":{"value":"akia[a-z0-9]+"}}}`:                                                     1,
		`{"bool":{"should":[{"term":{"msg":"hello"}},{"exists":{"field":"n"}}],"minimum_should_match":1}}`: 2,
		`{"bool":{"must_not":[{"term":{"msg":"hello"}}]}}`:                                                 2,
		`{"query_string":{"query":"\"hello world\""}}`:                                                     1,
	} {
		if got := count(t, s, q); got != want {
			t.Errorf("_count %s = %d, want %d", q, got, want)
		}
	}
	code, m := do(s, "GET", "/logs/_count", `{"query":{"nope":{}}}`)
	if code != 400 || !strings.Contains(strings.ToLower(m["error"].(map[string]any)["reason"].(string)), "unknown query") {
		t.Errorf("an unknown query = %d %v, want 400 unknown query", code, m)
	}
}

func TestSearchShapes(t *testing.T) {
	s, _ := testServer(t, "off")
	code, m := do(s, "GET", "/logs/_search", `{"size":1,"_source":["msg"],"terminate_after":1,"timeout":"5s","query":{"match_all":{}},
		"aggs":{"s":{"sampler":{"shard_size":2},"aggs":{"k":{"filters":{"filters":{"a":{"term":{"msg":"hello"}}}}}}}}}`)
	if code != 200 {
		t.Fatalf("_search = %d %v", code, m)
	}
	hits := m["hits"].(map[string]any)["hits"].([]any)
	src := hits[0].(map[string]any)["_source"].(map[string]any)
	if len(hits) != 1 || src["user"] != nil || src["msg"] == nil || m["terminated_early"] != true {
		t.Errorf("_search hits = %v, terminated_early %v; want one hit with msg only, terminated early", hits, m["terminated_early"])
	}
	b := m["aggregations"].(map[string]any)["s"].(map[string]any)
	if b["doc_count"].(float64) != 1 { // terminate_after kept one document for the aggregations too
		t.Logf("sampler doc_count %v", b["doc_count"])
	}
	if code, _ := do(s, "GET", "/logs/_search", `{"size":10001}`); code != 400 {
		t.Errorf("size 10001 = %d, want 400 (max_result_window)", code)
	}
	if code, _ := do(s, "GET", "/nope/_search", ``); code != 404 {
		t.Errorf("a missing index = %d, want 404", code)
	}
}

// TestWritesRefusedAndRecorded: anything that would change a real
// cluster is refused, and recorded for the lab's snapshot.
func TestWritesRefusedAndRecorded(t *testing.T) {
	s, journal := testServer(t, "off")
	for _, r := range [][2]string{{"DELETE", "/logs"}, {"PUT", "/logs/_doc/1"}, {"POST", "/_bulk"}, {"POST", "/logs/_delete_by_query"}} {
		if code, _ := do(s, r[0], r[1], `{}`); code != 405 {
			t.Errorf("%s %s = %d, want 405", r[0], r[1], code)
		}
	}
	b, _ := os.ReadFile(journal)
	if n := strings.Count(string(b), "\n"); n != 4 {
		t.Errorf("journal holds %d lines, want 4: %q", n, b)
	}
	if code, _ := do(s, "POST", "/logs/_search", `{}`); code != 200 {
		t.Errorf("POST _search = %d, want 200 (read-only)", code)
	}
	if n := count(t, s, `{"match_all":{}}`); n != 3 {
		t.Errorf("after the refused writes: %d documents, want 3", n)
	}
}

func TestLocked(t *testing.T) {
	s, _ := testServer(t, "required")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `Basic realm="security"`) {
		t.Errorf("GET / = %d %v, want 401 with Basic realm=\"security\"", w.Code, w.Header())
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("lab", "pw")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("GET / as the lab's admin = %d, want 200", w.Code)
	}
}
