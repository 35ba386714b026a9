package classify

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// narrowing lets a rule's regexp run on a short cut of its window instead
// of the whole: Go's regexp costs time for every byte it is given (and
// past a few KB leaves its backtracker for the slower NFA), while a match
// lies around one occurrence of a literal every match holds. What is
// found does not change; see find for why.
type narrowing struct {
	// Every match holds lit, starting at most back bytes after the
	// match starts.
	lit  string
	back int
	// begin: the pattern has ^, which holds where the text is cut on the
	// left. right: the text may also be cut on the right (the pattern has
	// no $, which would hold at the cut).
	begin, right bool
	// maxLen, when not 0, is the most bytes a match spans.
	maxLen int
	// When stop is not 0, a match is a head of at most head bytes, then
	// bytes other than stop, then a tail of at most tail bytes starting
	// with stop (a PEM key: its header, its body, its END line).
	stop       byte
	head, tail int
}

// newNarrowing reads the narrowing of a pattern, or returns nil when it
// has none.
func newNarrowing(pattern string) *narrowing {
	t, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	return newNarrowingOf(t)
}

// newNarrowingOf is newNarrowing of a parsed (not simplified) pattern,
// which it does not change.
func newNarrowingOf(t *syntax.Regexp) *narrowing {
	// Only ^ and $ may be asserted: other assertions read the byte before
	// a position, which a cut removes.
	begin, end := false, false
	if !assertsOnlyText(t, &begin, &end) {
		return nil
	}
	lit, back, ok := requiredLiteral(t)
	if !ok || lit == "" {
		return nil
	}
	n := &narrowing{lit: lit, back: back, begin: begin, right: !end}
	if m := maxBytes(t); m > 0 {
		n.maxLen = m
	}
	n.stop, n.head, n.tail = stopOf(t)
	return n
}

// assertsOnlyText reports whether the only empty-width assertions of t are
// ^ and $ of the text; *begin and *end are set if ^ and $ are among them.
func assertsOnlyText(t *syntax.Regexp, begin, end *bool) bool {
	switch t.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return false
	case syntax.OpBeginText:
		*begin = true
	case syntax.OpEndText:
		*end = true
	}
	for _, sub := range t.Sub {
		if !assertsOnlyText(sub, begin, end) {
			return false
		}
	}
	return true
}

// foldFree reports whether case folding leaves every rune of a literal
// as it is (digits, punctuation).
func foldFree(t *syntax.Regexp) bool {
	if t.Flags&syntax.FoldCase == 0 {
		return true
	}
	for _, r := range t.Rune {
		if unicode.SimpleFold(r) != r {
			return false
		}
	}
	return true
}

// requiredLiteral returns a literal that every match of t holds, and the
// most bytes between the start of the match and the literal.
func requiredLiteral(t *syntax.Regexp) (lit string, back int, ok bool) {
	switch t.Op {
	case syntax.OpLiteral:
		if !foldFree(t) {
			return "", 0, false
		}
		return string(t.Rune), 0, true
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(t.Sub[0])
	case syntax.OpRepeat:
		if t.Min >= 1 {
			return requiredLiteral(t.Sub[0])
		}
	case syntax.OpConcat:
		before := 0
		for _, sub := range t.Sub {
			if lit, back, ok := requiredLiteral(sub); ok {
				return lit, before + back, true
			}
			m := maxBytes(sub)
			if m < 0 {
				return "", 0, false
			}
			before += m
		}
	case syntax.OpAlternate:
		for i, sub := range t.Sub {
			l, b, ok := requiredLiteral(sub)
			if !ok || i > 0 && l != lit {
				return "", 0, false
			}
			lit, back = l, max(back, b)
		}
		return lit, back, true
	}
	return "", 0, false
}

// maxBytes returns the most bytes a match of t spans, or -1 when
// unbounded. It counts a class by its widest rune and a case-folded letter
// by its widest fold (k by the Kelvin sign): (?i)k may match 3 bytes.
func maxBytes(t *syntax.Regexp) int {
	switch t.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range t.Rune {
			w := utf8.RuneLen(r)
			if t.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					w = max(w, utf8.RuneLen(f))
				}
			}
			n += max(w, 1)
		}
		return n
	case syntax.OpCharClass:
		if len(t.Rune) == 0 {
			return 0
		}
		return max(utf8.RuneLen(t.Rune[len(t.Rune)-1]), 1)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax
	case syntax.OpCapture, syntax.OpQuest:
		return maxBytes(t.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpRepeat:
		n := maxBytes(t.Sub[0])
		if t.Max < 0 || n < 0 {
			return -1
		}
		return t.Max * n
	case syntax.OpConcat, syntax.OpAlternate:
		n := 0
		for _, sub := range t.Sub {
			m := maxBytes(sub)
			if m < 0 {
				return -1
			}
			if t.Op == syntax.OpConcat {
				n += m
			} else {
				n = max(n, m)
			}
		}
		return n
	}
	return 0 // empty-width assertions, empty match, no match
}

// mayTake reports whether a match of t may hold the ASCII byte c.
func mayTake(t *syntax.Regexp, c byte) bool {
	switch t.Op {
	case syntax.OpLiteral:
		for _, r := range t.Rune {
			if r == rune(c) || t.Flags&syntax.FoldCase != 0 && unicode.SimpleFold(r) != r {
				return true
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(t.Rune); i += 2 {
			if t.Rune[i] <= rune(c) && rune(c) <= t.Rune[i+1] {
				return true
			}
		}
		return false
	case syntax.OpEmptyMatch, syntax.OpNoMatch, syntax.OpBeginText, syntax.OpEndText:
		return false
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat, syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range t.Sub {
			if mayTake(sub, c) {
				return true
			}
		}
		return false
	}
	return true
}

// stopOf finds, in a pattern that is a sequence, a tail of bounded length
// that starts with a literal byte c no earlier part takes, back to a head
// of bounded length: then a match's tail starts at the first c after its
// head. It returns c = 0 when there is none.
func stopOf(t *syntax.Regexp) (c byte, head, tail int) {
	for t.Op == syntax.OpCapture {
		t = t.Sub[0]
	}
	if t.Op != syntax.OpConcat {
		return 0, 0, 0
	}
	subs := t.Sub
	for k := len(subs) - 1; k > 0; k-- {
		s := subs[k]
		if s.Op != syntax.OpLiteral || !foldFree(s) || s.Rune[0] >= utf8.RuneSelf {
			continue
		}
		c := byte(s.Rune[0])
		tail := maxBytes(&syntax.Regexp{Op: syntax.OpConcat, Sub: subs[k:]})
		if tail < 0 {
			continue
		}
		j := k - 1
		for j >= 0 && !mayTake(subs[j], c) {
			j--
		}
		head := maxBytes(&syntax.Regexp{Op: syntax.OpConcat, Sub: subs[:j+1]})
		if head < 0 {
			continue
		}
		return c, head, tail
	}
	return 0, 0, 0
}

// bound returns where the matches that start at or before x end at the
// latest, at a byte that no rune runs across, capped at end.
func (n *narrowing) bound(text string, x, end int) int {
	b := end
	if n.maxLen > 0 {
		b = min(b, x+n.maxLen)
	}
	if n.stop != 0 {
		// The tail starts at the first stop after the head's end, which
		// is at most x+head: no later than the first stop from there.
		h := x + n.head
		if h < end {
			if i := strings.IndexByte(text[h:end], n.stop); i >= 0 {
				h += i
			}
		}
		b = min(b, h+n.tail)
	}
	for b < end && text[b] >= utf8.RuneSelf {
		b++
	}
	return min(b, end)
}

// find returns the leftmost-first match of r's pattern (with its groups)
// in text[pos:end], as FindStringSubmatchIndex would, offsets relative to
// off; nil when there is none. pre, when not nil, is r's prefilter.
//
// With a narrowing it runs the regexp on text[a:b] only. A match starting
// at s holds lit at or after s and at most back bytes later, so none starts
// before a = (first lit) - back. Paths of the regexp starting after a read
// the same bytes and the same assertions in text[a:b] as in text[pos:end]
// (only ^ and $ are asserted, and a and b fall between runes), and so do
// paths starting at a but for ^ holding there: if the pattern has ^, a
// match found starting at a is checked on the whole window. On the right,
// the matches starting at or before x (an occurrence of lit) end by
// bound(x): if one is found in text[a:b] that starts by x, it is the one;
// else none starts by x, and x moves to the next occurrence.
func (r *Rule) find(text string, pos, end int, pre *prefilterDFA) (m []int, off int) {
	n := r.narrow
	if n == nil {
		return r.findIn(text, pos, end, pre), pos
	}
	q := strings.Index(text[pos:end], n.lit)
	if q < 0 {
		return nil, 0
	}
	q += pos
	lo := pos // no match starts in [pos, lo)
	for tries := 0; ; tries++ {
		a := max(lo, q-n.back)
		for a > pos && text[a] >= utf8.RuneSelf {
			a--
		}
		b := end
		if n.right && tries < narrowMaxTries {
			b = n.bound(text, q, end)
		}
		m := r.findIn(text, a, b, pre)
		switch {
		case m != nil && a > pos && m[0] == 0 && n.begin:
			return r.findIn(text, pos, end, pre), pos
		case m != nil && (b == end || a+m[0] <= q):
			return m, a
		case b == end:
			return nil, 0
		}
		// No match starts at or before q: one that starts later holds a
		// later lit.
		lo = q + 1
		i := strings.Index(text[lo:end], n.lit)
		if i < 0 {
			return nil, 0
		}
		q = lo + i
	}
}

// narrowMaxTries bounds the cuts on the right tried in one window: past
// it the cut runs to the window's end, so that a window dense with lit
// costs no more than a few runs of the regexp over it.
const narrowMaxTries = 8

// findIn runs the prefilter, then the regexp, on text[start:end].
func (r *Rule) findIn(text string, start, end int, pre *prefilterDFA) []int {
	if pre != nil && !pre.mayMatch(text[start:end]) {
		return nil
	}
	return r.re.FindStringSubmatchIndex(text[start:end])
}
