package classify

import "strings"

// A native matcher finds a rule's values without its regular expression,
// where the expression is the cost of scanning ordinary input: an IPv4
// address sits on nearly every log line. It must find exactly what the
// rule's pattern finds (native_test.go holds it to that on the rule's
// examples and on random text); the pattern stays the rule's definition,
// and what datastores run.
type nativeMatcher func(text string, start, end int, fn func(vs, ve int))

var nativeMatchers = map[string]nativeMatcher{"ipv4": ipv4Values}

// versionWords, before a dotted quad, make it a version (ip-v4's first
// alternative): matched case-insensitively.
var versionWords = []string{"version", "firmware", "release", "build", "ver", "rev", "fw", "v"}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ipv4Values calls fn with each IPv4 address the ip-v4 rule's pattern finds
// starting in [start, end) of text: a dotted quad of octets without leading
// zeros, the first 1-223 but not 127, not preceded by a letter, digit, dot
// or a single slash (Chrome/120.0.0.0), not followed by a letter, digit or
// a dot and another, and not a version (a version word, up to three of
// ` :="'_-`, then the quad).
func ipv4Values(text string, start, end int, fn func(vs, ve int)) {
	text = text[:end] // the window's end is the pattern's "$"
	restart := start  // where the pattern's search last began: "^" holds there
	for p := start; p < end; p++ {
		if !isDigit(text[p]) || p > start && isDigit(text[p-1]) {
			continue
		}
		quad, qe, ok := dottedQuad(text, p)
		if !ok {
			continue
		}
		if !boundaryAfter(text, qe) {
			p = qe - 1
			continue
		}
		if versionBefore(text, p, restart) {
			// The version alternative consumes the quad and the byte
			// after it; the search goes on from there.
			restart = qe + afterLen(text, qe)
			p = restart - 1
			continue
		}
		if p == restart || ipPrefixOK(text, p, restart) {
			if quad {
				fn(p, qe)
				restart = qe
			}
		}
		p = qe - 1
	}
}

// dottedQuad reads four digit runs of 1-5 digits separated by single dots
// from p, each a whole run, and says whether they are an address the rule
// takes (octets 0-255 without leading zeros, the first 1-223 but not 127).
// ok is false where no quad of such runs starts at p.
func dottedQuad(text string, p int) (address bool, qe int, ok bool) {
	address = true
	i := p
	for n := 0; n < 4; n++ {
		if n > 0 {
			if i >= len(text) || text[i] != '.' {
				return false, 0, false
			}
			i++
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		if j == i || j-i > 5 {
			return false, 0, false
		}
		v := 0
		for _, c := range []byte(text[i:j]) {
			v = v*10 + int(c-'0')
		}
		switch {
		case j-i > 1 && text[i] == '0', j-i > 3, v > 255:
			address = false
		case n == 0 && (v == 0 || v == 127 || v > 223):
			address = false
		}
		i = j
	}
	return address, i, true
}

// boundaryAfter is the pattern's end: the end of text, a byte that is not
// a letter, digit or dot, or a dot followed by the end or by such a byte.
func boundaryAfter(text string, qe int) bool {
	if qe >= len(text) {
		return true
	}
	c := text[qe]
	if c != '.' {
		return !isAlnum(c)
	}
	return qe+1 >= len(text) || !isAlnum(text[qe+1])
}

// afterLen is how many bytes the pattern's end consumes after a quad
// ending at qe (boundaryAfter holds).
func afterLen(text string, qe int) int {
	switch {
	case qe >= len(text):
		return 0
	case text[qe] == '.' && qe+1 < len(text):
		return 2
	}
	return 1
}

// ipPrefixOK is the pattern's start for an address: not after a letter,
// digit, dot or slash, except after "//" (a URL's host).
func ipPrefixOK(text string, p, restart int) bool {
	c := text[p-1]
	if c == '/' {
		return p-2 >= restart && text[p-2] == '/'
	}
	return !isAlnum(c) && c != '.'
}

// versionBefore says whether a version word, then up to three of
// ` :="'_-`, ends right before the quad at p, the word starting where the
// search began ("^") or after a byte that is not a letter or digit.
func versionBefore(text string, p, restart int) bool {
	q := p
	for q > restart && p-q <= 3 && strings.IndexByte(" :=\"'_-", text[q-1]) >= 0 {
		q--
	}
	if p-q > 3 {
		return false // the word cannot reach the digits
	}
	for _, w := range versionWords {
		a := q - len(w)
		if a < restart || !strings.EqualFold(text[a:q], w) {
			continue
		}
		if a == restart || !isAlnum(text[a-1]) {
			return true
		}
	}
	return false
}
