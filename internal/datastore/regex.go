package datastore

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// TranslateRegex re-emits pattern, an RE2 pattern as the rules write it
// (parsed with Perl flags, as regexp.Compile does), in dialect d, for a
// server to run as a pre-filter: the records it returns are classified by
// Go's regexp anyway, so a translation may match MORE than pattern does
// (over-approximate) but must never match less (under-approximate: a row
// Go's regexp would match, never read back, is a leak not reported).
//
// It works on the parsed tree, never on the pattern's text, so nothing of
// RE2's syntax reaches a server unread: every character class is written
// out as explicit ranges (\d, \w, \s, [[:alpha:]] and \p{…} included, so
// a server's own locale or Unicode tables never change their meaning),
// every case-insensitive literal as the class of its case-folding orbit
// (k is [Kk\x{212A}], as Go folds it), every capture group as a
// non-capturing one. The result is printable ASCII: every other character
// is a hex escape. For posix, pcre and icu it is EXACT, with these
// exceptions, all of which over-approximate:
//
//   - posix: a bounded repeat above 255 (PostgreSQL's limit) becomes
//     unbounded: x{2,1000} is sent as x{2,}, x{300} as x{255,}.
//   - every dialect: characters valid UTF-8 text cannot hold are left out
//     of classes (surrogates; NUL for posix, which PostgreSQL text cannot
//     hold), or let in where a class is negated; none can occur in a row.
//
// Exact, where one might expect a loss: non-greedy repeats are sent greedy
// (greediness chooses among matches, never whether one exists, and it would
// change all of an ARE's quantifiers); ^ and $ of (?m), \b and \B become
// lookarounds over Go's own sets ([^\n], [0-9A-Za-z_]), since a server's
// \b follows its Unicode tables (é is a word character to PostgreSQL and
// MariaDB, not to RE2), PostgreSQL's \b is a backspace and a PCRE2 build
// may count \r as a newline; Go's . is [^\n] for the same reason; pcre and
// icu patterns start with (?-i), as MariaDB and MySQL match
// case-insensitively under the column's collation otherwise.
//
// The dialects, and what the server must be given:
//
//   - re2 (ClickHouse): pattern unchanged.
//   - posix (PostgreSQL ~): an ARE, checked on PostgreSQL 15 under the
//     database's collation (C.UTF-8, where é is a word character); run it
//     with the case-sensitive operator ~, against text (cast other types).
//   - pcre (MariaDB 10.5+ REGEXP, PCRE2): checked on MariaDB 10.11, also
//     under every default_regex_flags a server may set (EXTENDED, which
//     would drop an unescaped space, MULTILINE, DOTALL, UNGREEDY); the
//     subject must be a character string (CONVERT(x USING utf8mb4)), as
//     \x{…} escapes above \x{ff} need PCRE2's UTF mode, which MariaDB
//     sets for character strings only.
//   - icu (MySQL 8 REGEXP): PCRE's syntax with every non-alphanumeric
//     written \x{…}; checked on the ICU 72 library run as MySQL runs it
//     (case-insensitive flag, uregex_find), as no MySQL server is at hand.
//   - lucene: refused. An Elasticsearch regexp is anchored to a whole
//     term of an analyzed field: no unanchored search of a row exists, so
//     a faithful translation does not either.
//
// A pushdown is a pre-filter and a server's engine may still give up on a
// row (PCRE2's match limit answers "no match" after catastrophic
// backtracking); the scanner's random sample is what covers that.
func TranslateRegex(pattern string, d Dialect) (string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("regex %q: %w", pattern, err)
	}
	switch d {
	case DialectRE2:
		return pattern, nil
	case DialectPOSIX, DialectPCRE, DialectICU:
	case DialectLucene:
		return "", fmt.Errorf("regex %q: not translated to lucene: an Elasticsearch regexp matches whole terms only, so an unanchored search cannot be expressed", pattern)
	case DialectNone:
		return "", fmt.Errorf("regex %q: the server declares no regex dialect", pattern)
	default:
		return "", fmt.Errorf("regex %q: unknown dialect %q", pattern, string(d))
	}
	e := &regexEmitter{d: d}
	if d == DialectPCRE || d == DialectICU {
		e.b.WriteString("(?-i)")
		if re.Op == syntax.OpAlternate { // the option then plainly covers every branch
			re = &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{re}}
		}
	}
	if err := e.emit(re); err != nil {
		return "", fmt.Errorf("regex %q to %s: %w", pattern, d, err)
	}
	return e.b.String(), nil
}

// aresMaxRepeat is PostgreSQL's DUPMAX: {256} is "invalid repetition count(s)".
const aresMaxRepeat = 255

// wordClass is RE2's \w, which \b and \B look at: ASCII only.
var wordClass = []rune{'0', '9', 'A', 'Z', '_', '_', 'a', 'z'}

type regexEmitter struct {
	d Dialect
	b strings.Builder
}

func (e *regexEmitter) emit(re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpNoMatch:
		e.b.WriteString("(?!)")
	case syntax.OpEmptyMatch:
		e.b.WriteString("(?:)")
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			e.literal(r, re.Flags&syntax.FoldCase != 0)
		}
	case syntax.OpCharClass:
		e.class(re.Rune)
	case syntax.OpAnyCharNotNL:
		e.class([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
	case syntax.OpAnyChar:
		e.class([]rune{0, unicode.MaxRune})
	case syntax.OpBeginLine: // Go's (?m)^: at the start, or after \n
		e.b.WriteString("(?<!")
		e.class([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
		e.b.WriteString(")")
	case syntax.OpEndLine:
		e.b.WriteString("(?!")
		e.class([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
		e.b.WriteString(")")
	case syntax.OpBeginText:
		e.b.WriteString(`\A`)
	case syntax.OpEndText:
		if e.d == DialectPOSIX {
			e.b.WriteString(`\Z`) // an ARE's \Z is the very end; it has no \z
		} else {
			e.b.WriteString(`\z`) // PCRE's \Z and $ also match before a final \n
		}
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// \b: a word character on exactly one side; \B: on both or neither.
		e.b.WriteString("(?:(?<=")
		e.class(wordClass)
		if re.Op == syntax.OpWordBoundary {
			e.b.WriteString(")(?!")
		} else {
			e.b.WriteString(")(?=")
		}
		e.class(wordClass)
		e.b.WriteString(")|(?<!")
		e.class(wordClass)
		if re.Op == syntax.OpWordBoundary {
			e.b.WriteString(")(?=")
		} else {
			e.b.WriteString(")(?!")
		}
		e.class(wordClass)
		e.b.WriteString("))")
	case syntax.OpCapture:
		e.b.WriteString("(?:")
		if err := e.emit(re.Sub[0]); err != nil {
			return err
		}
		e.b.WriteString(")")
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return e.repeat(re)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if s.Op == syntax.OpAlternate {
				e.b.WriteString("(?:")
				if err := e.emit(s); err != nil {
					return err
				}
				e.b.WriteString(")")
			} else if err := e.emit(s); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		for i, s := range re.Sub {
			if i > 0 {
				e.b.WriteString("|")
			}
			if err := e.emit(s); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%v: construct not translated", re.Op)
	}
	return nil
}

// repeat writes a quantified expression. Non-greedy is dropped: it picks
// among matches and never decides whether one exists.
func (e *regexEmitter) repeat(re *syntax.Regexp) error {
	sub := re.Sub[0]
	min, max := re.Min, re.Max
	switch re.Op {
	case syntax.OpStar:
		min, max = 0, -1
	case syntax.OpPlus:
		min, max = 1, -1
	case syntax.OpQuest:
		min, max = 0, 1
	}
	if max == 0 {
		e.b.WriteString("(?:)")
		return nil
	}
	if zeroWidth(sub) {
		// An assertion holds once or any number of times alike; PostgreSQL
		// refuses a quantified constraint, so none is sent.
		if min == 0 {
			e.b.WriteString("(?:)")
			return nil
		}
		e.b.WriteString("(?:")
		if err := e.emit(sub); err != nil {
			return err
		}
		e.b.WriteString(")")
		return nil
	}
	if e.d == DialectPOSIX {
		if min > aresMaxRepeat { // over-approximates: x{300} is sent as x{255,}
			min, max = aresMaxRepeat, -1
		}
		if max > aresMaxRepeat { // over-approximates: x{2,1000} is sent as x{2,}
			max = -1
		}
	}
	if atom(sub) {
		if err := e.emit(sub); err != nil {
			return err
		}
	} else {
		e.b.WriteString("(?:")
		if err := e.emit(sub); err != nil {
			return err
		}
		e.b.WriteString(")")
	}
	switch {
	case min == 0 && max == -1:
		e.b.WriteString("*")
	case min == 1 && max == -1:
		e.b.WriteString("+")
	case min == 0 && max == 1:
		e.b.WriteString("?")
	case max == -1:
		e.b.WriteString("{" + strconv.Itoa(min) + ",}")
	case min == max:
		e.b.WriteString("{" + strconv.Itoa(min) + "}")
	default:
		e.b.WriteString("{" + strconv.Itoa(min) + "," + strconv.Itoa(max) + "}")
	}
	return nil
}

// atom reports whether re is written as one unit a quantifier binds to.
func atom(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 1
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpCapture:
		return true
	}
	return false
}

// zeroWidth reports whether re matches only the empty string.
func zeroWidth(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpCapture, syntax.OpConcat, syntax.OpAlternate, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		for _, s := range re.Sub {
			if !zeroWidth(s) {
				return false
			}
		}
		return true
	}
	return false
}

// literal writes r, or the class of its case-folding orbit when fold is
// set, as Go's regexp matches a literal under (?i).
func (e *regexEmitter) literal(r rune, fold bool) {
	if fold {
		orbit := []rune{r}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			orbit = append(orbit, f)
		}
		if len(orbit) > 1 {
			slices.Sort(orbit)
			ranges := make([]rune, 0, 2*len(orbit))
			for _, o := range orbit {
				ranges = append(ranges, o, o)
			}
			e.class(ranges)
			return
		}
	}
	if !e.holds(r) {
		e.b.WriteString("(?!)") // a character no row holds: never matches
		return
	}
	e.char(r)
}

// holds reports whether valid text of the server can hold r.
func (e *regexEmitter) holds(r rune) bool {
	if r >= 0xD800 && r <= 0xDFFF {
		return false
	}
	return r != 0 || e.d != DialectPOSIX
}

// class writes the character class of ranges (pairs lo, hi as
// regexp/syntax gives them: sorted, apart). A class holding the last rune
// is written negated, as its complement.
func (e *regexEmitter) class(ranges []rune) {
	negated := len(ranges) > 0 && ranges[len(ranges)-1] == unicode.MaxRune
	if negated {
		ranges = complement(ranges)
		if len(ranges) == 0 { // every character
			if e.d == DialectPOSIX {
				e.b.WriteString(".") // an ARE's . matches \n unless newline-sensitive, which is never asked
			} else {
				e.b.WriteString("(?s:.)")
			}
			return
		}
	}
	// Leave out what no row holds: from a positive class it loses no
	// match; from a negated one it lets in characters that never occur.
	var kept []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo == 0 && !e.holds(0) {
			lo = 1
		}
		if l, h := lo, min(hi, 0xD7FF); l <= h {
			kept = append(kept, l, h)
		}
		if l, h := max(lo, 0xE000), hi; l <= h {
			kept = append(kept, l, h)
		}
	}
	if len(kept) == 0 {
		if negated {
			e.class([]rune{0, unicode.MaxRune})
		} else {
			e.b.WriteString("(?!)")
		}
		return
	}
	e.b.WriteString("[")
	if negated {
		e.b.WriteString("^")
	}
	for i := 0; i+1 < len(kept); i += 2 {
		lo, hi := kept[i], kept[i+1]
		e.char(lo)
		if hi > lo+1 {
			e.b.WriteString("-")
		}
		if hi > lo {
			e.char(hi)
		}
	}
	e.b.WriteString("]")
}

// complement returns the ranges of every rune not in ranges.
func complement(ranges []rune) []rune {
	var out []rune
	next := rune(0)
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] > next {
			out = append(out, next, ranges[i]-1)
		}
		next = ranges[i+1] + 1
	}
	if next <= unicode.MaxRune {
		out = append(out, next, unicode.MaxRune)
	}
	return out
}

// char writes r as a literal of the dialect, inside or outside a class
// alike: letters and digits as themselves, other printable ASCII escaped
// with a backslash (for icu as \x{…}: ICU sets give meaning to more
// punctuation than PCRE's), everything else as a hex escape.
func (e *regexEmitter) char(r rune) {
	switch {
	case r < 0x80 && (r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'):
		e.b.WriteRune(r)
	case r == '\n' && e.d != DialectICU:
		e.b.WriteString(`\n`)
	case r == '\t' && e.d != DialectICU:
		e.b.WriteString(`\t`)
	case r == '\r' && e.d != DialectICU:
		e.b.WriteString(`\r`)
	case r >= ' ' && r < 0x7f && e.d != DialectICU:
		e.b.WriteByte('\\')
		e.b.WriteRune(r)
	case e.d == DialectPOSIX && r <= 0xFFFF:
		fmt.Fprintf(&e.b, `\u%04X`, r) // exactly four digits: \x would eat the hex digits after it
	case e.d == DialectPOSIX:
		fmt.Fprintf(&e.b, `\U%08X`, r)
	default:
		fmt.Fprintf(&e.b, `\x{%X}`, r)
	}
}
