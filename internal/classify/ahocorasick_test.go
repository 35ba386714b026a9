package classify

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// find walks two halves of a long text at once; it must report exactly
// what one walk reports, in the same order.
func TestFindHalvesAgreeWithOneWalk(t *testing.T) {
	e := Default()
	r := rand.New(rand.NewPCG(1, 2))
	kws := []string{"sk-", "@", "PRIVATE KEY", "password", "AKIA", "ghp_", "://", "Bearer "}
	for _, n := range []int{4095, 4096, 4097, 10000, 65537} {
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
