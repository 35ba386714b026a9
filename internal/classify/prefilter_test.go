package classify

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// prefilterTexts are texts built from a rule's examples: each example, its
// prefixes and suffixes (a $ or ^ then falls elsewhere), and each wrapped
// in bytes that change its boundaries.
func prefilterTexts(rules ...*Rule) []string {
	// Non-ASCII characters where a pattern counts characters: each is one
	// character of several bytes.
	out := []string{"SSN：：：：：：536228471", "cpf：：：：：：57986828200", "aadhaar•••••218263304342", "K539336(1)"}
	for _, r := range rules {
		for _, ex := range slices.Concat(r.Examples, r.NegativeExamples) {
			for i := range len(ex) + 1 {
				out = append(out, ex[i:], ex[:i])
			}
			for _, around := range []string{"x", "0", " ", "é", "\xff", "\n", "_", "-", ".", "中文"} {
				out = append(out, around+ex, ex+around, around+ex+around)
			}
		}
	}
	return out
}

// TestPrefilterNeverRejectsAMatch: wherever a rule's pattern matches, its
// prefilter lets the text through.
func TestPrefilterNeverRejectsAMatch(t *testing.T) {
	e := Default()
	for _, r := range e.Rules() {
		texts := prefilterTexts(r)
		if r.pre == nil {
			continue
		}
		d := r.pre.newDFA(nil)
		if d == nil {
			continue
		}
		for _, text := range texts {
			if r.re.MatchString(text) && !d.mayMatch(text) {
				t.Errorf("rule %s: mayMatch(%q) = false, but the pattern matches", r.ID, text)
			}
		}
	}
}

// TestPrefilterRejects: the prefilter turns away the windows digit
// triggers open around timestamps and ids, which is what it is for.
func TestPrefilterRejects(t *testing.T) {
	e := Default()
	for _, tt := range []struct{ rule, text string }{
		{"hk-id", `{"ts":"2025-01-01T00:00:00.135Z","status":401,"latency_ms":1599}`},
		{"uk-nino", `"session_id":"990171cb-d8f5-40bc-bb59-09cb78b3c454"`},
		{"payment-card", `transaction_id="4200002831852037026501355999"`},
		{"payment-card", `IBAN ES7152369722328403598862, thanks`},
		{"phone-us", `{"order_id":"ORD-415-555-0132"}`},
		{"email", `ssh user@localhost -p 2222`},
	} {
		r := e.rules[e.order[tt.rule]]
		if r.pre == nil {
			t.Errorf("rule %s has no prefilter", tt.rule)
			continue
		}
		if r.pre.newDFA(nil).mayMatch(tt.text) {
			t.Errorf("rule %s: mayMatch(%q) = true, want false", tt.rule, tt.text)
		}
	}
}

// TestScanSameWithoutPrefilters: on a labelled corpus, Scan finds exactly
// what it finds with every prefilter off.
func TestScanSameWithoutPrefilters(t *testing.T) {
	var text bytes.Buffer
	if err := corpus.Generate(&text, new(bytes.Buffer), 3000, 7); err != nil {
		t.Fatal(err)
	}
	with, without := Default(), Default()
	for _, r := range without.rules {
		r.pre = nil
	}
	n := 0
	for line := range strings.Lines(text.String()) {
		got, want := with.Scan(line), without.Scan(line)
		if !slices.Equal(got, want) {
			t.Errorf("Scan(%q) = %+v, want %+v as without prefilters", line, got, want)
		}
		n += len(got)
	}
	if n == 0 {
		t.Fatal("the corpus yielded no detections")
	}
}

// FuzzPrefilter: whatever the text, a rule whose pattern matches it has a
// prefilter that lets it through.
func FuzzPrefilter(f *testing.F) {
	e := Default()
	for _, r := range e.Rules() {
		for _, ex := range r.Examples {
			f.Add(ex)
		}
	}
	dfas := make([]*prefilterDFA, len(e.rules))
	for i, r := range e.rules {
		if r.pre != nil {
			dfas[i] = r.pre.newDFA(nil)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		for i, r := range e.rules {
			if dfas[i] != nil && !dfas[i].mayMatch(text) && r.re.MatchString(text) {
				t.Fatalf("rule %s: mayMatch(%q) = false, but the pattern matches", r.ID, text)
			}
		}
	})
}

// TestPrefilterPatterns covers pattern features the rules may come to use.
func TestPrefilterPatterns(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		match   []string
		reject  []string
	}{
		{`a.c`, []string{"abc", "xa.cx", "a中c"}, []string{"a\nc", "ac"}},
		{`(?s:a.c)`, []string{"a\nc", "aéc"}, []string{"ac", "abbc"}},
		{`^ab`, []string{"ab", "abc"}, []string{"cab", " ab"}},
		{`ab$`, []string{"ab", "cab"}, []string{"abc", "ab "}},
		{`^$`, nil, nil},
		{`\bkey\b`, []string{"key", "a key b"}, []string{"ke y"}},
		{`(?i)k\d`, []string{"K1", "k2", "\u212A3"}, []string{"x1"}},
		{`(?:^|[^a-z])(\d{3})(?:[^0-9]|$)`, []string{"123", "a 123 b", "：123"}, []string{"ab123x", "12"}},
		{`x[^0-9]{0,2}y`, []string{"xy", "x中文y", "x\xff\xfey"}, []string{"x123y", "x\n12y"}},
		{`中{2,}`, []string{"中中", "x中中中"}, []string{"ab", "中"[:1] + "b"}},
	} {
		re := regexp.MustCompile(tt.pattern)
		p := newPrefilter(tt.pattern)
		d := p.newDFA(nil)
		for _, text := range tt.match {
			if !re.MatchString(text) {
				t.Fatalf("%q does not match %q: fix the test", tt.pattern, text)
			}
			if !d.mayMatch(text) {
				t.Errorf("prefilter of %q: mayMatch(%q) = false, want true", tt.pattern, text)
			}
		}
		for _, text := range tt.reject {
			if re.MatchString(text) {
				t.Fatalf("%q matches %q: fix the test", tt.pattern, text)
			}
			if d.mayMatch(text) {
				t.Errorf("prefilter of %q: mayMatch(%q) = true, want false", tt.pattern, text)
			}
		}
		if d == nil && (tt.match != nil || tt.reject != nil) {
			t.Errorf("pattern %q has no prefilter", tt.pattern)
		}
	}
}

// FuzzScanSameWithoutPrefilters: whatever the text, Scan finds exactly
// what it finds with every prefilter off.
func FuzzScanSameWithoutPrefilters(f *testing.F) {
	with, without := Default(), Default()
	for _, r := range without.rules {
		r.pre = nil
	}
	for _, r := range with.Rules() {
		for _, ex := range r.Examples {
			f.Add(ex)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := with.Scan(text), without.Scan(text); !slices.Equal(got, want) {
			t.Errorf("Scan(%q) = %+v, want %+v as without prefilters", text, got, want)
		}
	})
}
