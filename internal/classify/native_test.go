package classify

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Every native matcher finds exactly what its rule's pattern finds: on the
// rule's examples, on lines built from the pieces that decide a match
// (digits, dots, slashes, version words, separators), and anywhere a
// window of the line starts and ends.
func TestNativeMatchersAgreeWithPatterns(t *testing.T) {
	pieces := []string{"1", "2", "0", "9", "25", "255", "256", "127", "223", "224", "10", "01", "192.168.1.20", "8.8.4.4", "1.2.3.4", "100000",
		".", ".", ".", "/", "//", " ", ":", "=", "\"", "'", "_", "-", ",", "a", "Z", "v", "V", "ver", "version", "Release", "build", "fw", "FIRMWARE", "rev", "nv", "é", "\n"}
	for _, r := range Default().Rules() {
		if r.native == nil {
			continue
		}
		viaPattern := *r
		viaPattern.native = nil
		check := func(text string, start, end int) {
			got := r.matches(text, start, end, nil, nil)
			want := viaPattern.matches(text, start, end, nil, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("rule %s on %q [%d:%d]: native found %+v, pattern %+v", r.ID, text, start, end, got, want)
			}
		}
		for _, ex := range append(slices.Clone(r.Examples), r.NegativeExamples...) {
			check(ex, 0, len(ex))
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200_000 {
			var b strings.Builder
			for range 1 + rng.IntN(14) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			text := b.String()
			check(text, 0, len(text))
			start := rng.IntN(len(text) + 1)
			check(text, start, start+rng.IntN(len(text)-start+1))
		}
	}
}

// FuzzNativeMatchers holds every native matcher to its rule's pattern on
// any text and window.
func FuzzNativeMatchers(f *testing.F) {
	for _, s := range []string{"version 1.2.3.4/5.6.7.8", "V8.8.4.4..8.8.4.4", "http://192.168.1.20:8080/api", "Chrome/120.0.0.0", "ip 10.1.2.300"} {
		f.Add(s, uint16(0), uint16(len(s)))
	}
	e := Default()
	f.Fuzz(func(t *testing.T, text string, a, b uint16) {
		start := int(a) % (len(text) + 1)
		end := start + int(b)%(len(text)-start+1)
		for _, r := range e.Rules() {
			if r.native == nil {
				continue
			}
			viaPattern := *r
			viaPattern.native = nil
			got, want := r.matches(text, start, end, nil, nil), viaPattern.matches(text, start, end, nil, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("rule %s on %q [%d:%d]: native found %+v, pattern %+v", r.ID, text, start, end, got, want)
			}
		}
	})
}
