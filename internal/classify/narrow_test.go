package classify

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// withoutNarrowing returns the default engine with every narrowing off:
// each regexp runs on its whole window, as the reference.
func withoutNarrowing() *Engine {
	e := Default()
	for _, r := range e.rules {
		r.narrow = nil
	}
	return e
}

// TestScanSameWithoutNarrowing: on a labelled corpus, line by line and in
// chunks longer than wholeText (where windows are cut around triggers),
// and on texts built from every rule's examples, Scan finds exactly what
// it finds with every narrowing off.
func TestScanSameWithoutNarrowing(t *testing.T) {
	var text bytes.Buffer
	if err := corpus.Generate(&text, new(bytes.Buffer), 3000, 11); err != nil {
		t.Fatal(err)
	}
	with, without := Default(), withoutNarrowing()
	texts := slices.Collect(strings.Lines(text.String()))
	for s := text.String(); len(s) > 0; s = s[min(len(s), 40<<10):] {
		texts = append(texts, s[:min(len(s), 64<<10)])
	}
	texts = append(texts, prefilterTexts(with.rules...)...)
	// Windows dense with a rule's literal, past narrowMaxTries cuts.
	for _, id := range []string{"private-key", "connection-string-password", "email"} {
		for _, ex := range with.rules[with.order[id]].Examples {
			for _, filler := range []string{"-----BEGIN PRIVATE KEY----- ", "mysql://a ", "a@b ", "@"} {
				texts = append(texts, strings.Repeat(filler, 20)+ex, ex+strings.Repeat(filler, 20)+ex)
			}
		}
	}
	n := 0
	for _, text := range texts {
		got, want := with.Scan(text), without.Scan(text)
		if !slices.Equal(got, want) {
			t.Errorf("Scan(%q) = %+v, want %+v as without narrowing", text, got, want)
		}
		n += len(got)
	}
	if n == 0 {
		t.Fatal("the texts yielded no detections")
	}
}

// TestNarrowingCuts: the rules that cost most on long windows are cut
// down, and a cut is where the argument of find says it may be.
func TestNarrowingCuts(t *testing.T) {
	e := Default()
	for _, tt := range []struct {
		rule  string
		lit   string
		right bool
	}{
		{"private-key", "-----BEGIN ", true},
		{"connection-string-password", "://", true},
		{"email", "@", false},
	} {
		r := e.rules[e.order[tt.rule]]
		if r.narrow == nil {
			t.Errorf("rule %s has no narrowing", tt.rule)
			continue
		}
		if r.narrow.lit != tt.lit || r.narrow.right != tt.right {
			t.Errorf("rule %s: narrowing lit %q right %v, want %q %v", tt.rule, r.narrow.lit, r.narrow.right, tt.lit, tt.right)
		}
	}
	for _, pattern := range []string{`\bkey\b`, `(?m)^key`, `a*`, `[a-z]+`} {
		if n := newNarrowing(pattern); n != nil {
			t.Errorf("newNarrowing(%q) = %+v, want nil", pattern, *n)
		}
	}
	// The body of a key holds no '-': a match ends at the first END line.
	r := e.rules[e.order["private-key"]]
	key := "-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("QUJD", 400) + "\n-----END PRIVATE KEY-----"
	text := "x " + key + " y " + strings.Repeat("z", 5000)
	// The bound is the END line's start plus the longest END line.
	want := 2 + strings.Index(key, "-----END ") + len("-----END ENCRYPTED PRIVATE KEY-----")
	if b := r.narrow.bound(text, 2, len(text)); b != want {
		t.Errorf("bound of a %d-byte key at 2 = %d, want %d", len(key), b, want)
	}
}

// FuzzScanSameWithoutNarrowing: whatever the text, Scan finds exactly what
// it finds with every narrowing off.
func FuzzScanSameWithoutNarrowing(f *testing.F) {
	with, without := Default(), withoutNarrowing()
	for _, r := range with.Rules() {
		for _, ex := range r.Examples {
			f.Add(ex)
			f.Add(ex + " " + ex)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := with.Scan(text), without.Scan(text); !slices.Equal(got, want) {
			t.Errorf("Scan(%q) = %+v, want %+v as without narrowing", text, got, want)
		}
	})
}
