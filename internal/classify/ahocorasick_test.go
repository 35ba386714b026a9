package classify

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// find walks two halves of a long text at once; it must report exactly
// what one walk reports, in the same order.
func TestFindHalvesAgreeWithOneWalk(t *testing.T) {
	e := Default()
	r := rand.New(rand.NewPCG(1, 2))
	kws := []string{"sk-", "@", "PRIVATE KEY", "password", "AKIA", "ghp_", "://", "Bearer "}
	for _, n := range []int{127, 128, 129, 200, 300, 4095, 4096, 4097, 10000, 65537} {
		for range 20 {
			var b strings.Builder
			for b.Len() < n {
				if r.IntN(4) == 0 {
					b.WriteString(kws[r.IntN(len(kws))])
				} else {
					b.WriteByte(byte('a' + r.IntN(26)))
				}
			}
			text := b.String()[:n]
			checkHalves(t, e.kw, text)
		}
	}
}

func checkHalves(t *testing.T, m *matcher, text string) {
	t.Helper()
	var got, want []hit
	m.find(text, func(kw int32, end int) { got = append(got, hit{kw, end}) })
	m.findRange(text, 0, len(text), 0, func(kw int32, end int) { want = append(want, hit{kw, end}) })
	if !slices.Equal(got, want) {
		t.Fatalf("find on %d bytes: %d hits, one walk finds %d", len(text), len(got), len(want))
	}
}

func FuzzFindHalves(f *testing.F) {
	m := newMatcher([]string{"ab", "abc", "bca", "c", "aaaa"})
	f.Add(strings.Repeat("abca", 2000))
	f.Add(strings.Repeat("a", 5000))
	f.Fuzz(func(t *testing.T, s string) {
		for len(s) < 4096 {
			s += s + "x"
		}
		checkHalves(t, m, s)
	})
}

// FuzzFindHalvesShort is FuzzFindHalves on texts of log-line length, near
// where find starts to walk two halves.
func FuzzFindHalvesShort(f *testing.F) {
	m := newMatcher([]string{"ab", "abc", "bca", "c", "aaaa", strings.Repeat("b", 40)})
	f.Add(strings.Repeat("abca", 40))
	f.Add(strings.Repeat("b", 200))
	f.Fuzz(func(t *testing.T, s string) {
		checkHalves(t, m, s)
	})
}

// BenchmarkFindLogLines runs the keyword automaton over the lines of a
// JSON access log, a few hundred bytes each.
func BenchmarkFindLogLines(b *testing.B) {
	e := Default()
	var log bytes.Buffer
	if err := corpus.GenerateAccessLog(&log, 1<<20, 1); err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(log.String(), "\n")
	b.SetBytes(int64(log.Len()))
	n := 0
	for range b.N {
		for _, l := range lines {
			e.kw.find(l, func(int32, int) { n++ })
		}
	}
}
