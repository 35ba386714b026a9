// Package classify finds secrets and personal data in text. Rules are data
// (embedded YAML), each proven by its own examples; a value found is
// reported redacted and fingerprinted, never raw.
package classify

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"math/bits"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Rule is one detection rule as written in rules/*.yaml.
type Rule struct {
	ID       string   `yaml:"id"`
	Kind     string   `yaml:"kind"`
	Category string   `yaml:"category"` // secret | pii
	Keywords []string `yaml:"keywords"`
	Pushdown string   `yaml:"pushdown"` // RE2 for datastores, where no keyword exists
	Pattern  string   `yaml:"pattern"`  // group 1 is the value
	Validate string   `yaml:"validate"`
	// TriggerDigits, for rules without keywords, is the fewest digits a
	// candidate holds: such rules run only around spans of digits and
	// separators holding at least that many.
	TriggerDigits int `yaml:"trigger_digits"`
	// TriggerDots, with TriggerDigits, is the fewest dots the span holds
	// (an IPv4 address has three).
	TriggerDots int `yaml:"trigger_dots"`
	// TriggerPart, with TriggerDigits, is the fewest digits a match holds
	// between two dots of its span (a US phone written 415.555.2671 ends
	// in four): a dotted quad, on nearly every log line, triggers no rule
	// needing more than three. A rule whose value holds no dot needs all
	// its digits in one part, without saying so.
	TriggerPart int `yaml:"trigger_part"`
	// TriggerUpper, for rules without keywords or digit triggers, is the
	// fewest uppercase letters directly followed by a digit that a match
	// starts with (an Italian codice fiscale: RSSMRA85…).
	TriggerUpper     int     `yaml:"trigger_upper"`
	MinEntropy       float64 `yaml:"min_entropy"`
	PlaceholderCheck string  `yaml:"placeholder_check"`
	// Matcher names a native matcher (native.go) that finds exactly what
	// Pattern finds, faster, where the pattern runs on most input.
	Matcher          string   `yaml:"matcher"`
	Examples         []string `yaml:"examples"`
	NegativeExamples []string `yaml:"negative_examples"`

	re        *lazyRE
	pre       *prefilter // rejects most windows where re cannot match; nil: none
	narrow    *narrowing // cuts a window down to where a match may lie; nil: none
	maxLen    int        // longest match in bytes, 0 when unbounded
	native    nativeMatcher
	minPart   int            // fewest digits of a match between two dots of its span
	tree      *syntax.Regexp // the parsed pattern, from prepare until compile has read it
	numSubexp int
}

// Detection is one value found. Start and End are byte offsets of the value
// in the scanned text, End exclusive.
type Detection struct {
	Category    string `json:"category"`
	Kind        string `json:"kind"`
	Rule        string `json:"rule"`
	Start       int    `json:"start"`
	End         int    `json:"end"`
	Redacted    string `json:"redacted"`
	Fingerprint string `json:"fingerprint"`
	Validated   bool   `json:"validated,omitempty"`
}

// Engine holds compiled rules. It is safe for concurrent use.
type Engine struct {
	rules   []*Rule
	order   map[string]int
	kw      *matcher
	kwRules [][]int    // keyword index → rules using it
	digit   []int      // rules run around digit spans
	upper   []int      // rules run around uppercase runs followed by a digit
	always  []int      // rules with neither keywords nor a digit trigger: run on all text
	minDig  int        // fewest digits any digit rule needs
	longest int        // most bytes a match found around one trigger spans
	scratch *sync.Pool // of *scratch, one per goroutine scanning; shared by WithKey's copies
	key     Key        // fingerprints are keyed with it (fingerprint.go)
	// counted kinds are counted, not reported (CountOnly, context.go).
	counted     map[string]bool
	countedSink func(Counted)
}

//go:embed rules/*.yaml
var ruleFiles embed.FS

// Default returns the engine of the embedded rules. It panics if they do
// not compile: that is caught by the tests, never by a user.
func Default() *Engine {
	e, err := Load(ruleFiles)
	if err != nil {
		panic(err)
	}
	return e
}

// Load compiles every rules/*.yaml file of fsys.
func Load(fsys fs.FS) (*Engine, error) {
	names, err := fs.Glob(fsys, "rules/*.yaml")
	if err != nil {
		return nil, err
	}
	e := &Engine{}
	seen := map[string]bool{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Rules []*Rule `yaml:"rules"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, r := range doc.Rules {
			if seen[r.ID] {
				return nil, fmt.Errorf("%s: duplicate rule id %q", name, r.ID)
			}
			seen[r.ID] = true
			if err := r.prepare(); err != nil {
				return nil, fmt.Errorf("%s: rule %s: %w", name, r.ID, err)
			}
			if r.numSubexp < 1 {
				return nil, fmt.Errorf("%s: rule %s: pattern has no value group", name, r.ID)
			}
			if r.Matcher != "" {
				if r.native = nativeMatchers[r.Matcher]; r.native == nil {
					return nil, fmt.Errorf("%s: rule %s: unknown matcher %q", name, r.ID, r.Matcher)
				}
			}
			if r.Validate != "" && validators[r.Validate] == nil {
				return nil, fmt.Errorf("%s: rule %s: unknown validator %q", name, r.ID, r.Validate)
			}
			if len(r.Keywords) == 0 && r.Pushdown == "" {
				return nil, fmt.Errorf("%s: rule %s: needs keywords or a pushdown pattern", name, r.ID)
			}
			if r.Pushdown != "" {
				// Only checked here (datastores compile it for
				// themselves): a pattern that parses compiles.
				if _, err := syntax.Parse(r.Pushdown, syntax.Perl); err != nil {
					return nil, fmt.Errorf("%s: rule %s: pushdown: %w", name, r.ID, err)
				}
			}
			e.rules = append(e.rules, r)
		}
	}
	if err := e.compile(); err != nil {
		return nil, err
	}
	for _, r := range e.rules {
		r.tree = nil // read by compile only: not held while scanning
	}
	return e, nil
}

// prepare parses r's pattern and reads its shape; the regexp machine is
// compiled when a window first needs it (a run needs few of the rules).
// regexp.Compile fails only where the pattern does not parse, with the
// parser's error, which prepare returns.
func (r *Rule) prepare() error {
	parsed, err := syntax.Parse(r.Pattern, syntax.Perl)
	if err != nil {
		return err
	}
	r.re = lazyRegexp(r.Pattern)
	r.numSubexp = parsed.MaxCap()
	// Not simplified: what compile reads of it (maxBytes, minDigitsOf,
	// valueMatchesNoDot) counts x{n,m} as Simplify's n copies and m-n
	// optional ones would, without building them.
	r.tree = parsed
	r.pre = newPrefilter(r.Pattern)
	r.narrow = newNarrowingOf(parsed)
	return nil
}

// digitTriggerFinds checks on the rule's own examples that running it only
// around digit spans finds what running it on the whole text finds.
func (r *Rule) digitTriggerFinds() bool {
	for _, ex := range r.Examples {
		whole := r.matches(ex, 0, len(ex), nil, nil)
		var near []Detection
		digitSpans(ex, r.TriggerDigits, func(start, end, _, _, part int) {
			if part >= r.minPart {
				near = r.matches(ex, start, end, nil, near)
			}
		})
		for _, w := range whole {
			if !slices.ContainsFunc(near, func(n Detection) bool { return n.Start == w.Start && n.End == w.End }) {
				return false
			}
		}
	}
	return true
}

// minTriggerDigits is the fewest digits that make a digit span specific
// enough to trigger a rule; rules needing fewer run on all text.
const minTriggerDigits = 6

// valueMatchesNoDot reports whether the value (group 1) of a pattern can
// hold no '.': its digits then lie between two dots of a digit span.
func valueMatchesNoDot(t *syntax.Regexp) bool {
	var g *syntax.Regexp
	var walk func(*syntax.Regexp)
	walk = func(t *syntax.Regexp) {
		if t.Op == syntax.OpCapture && t.Cap == 1 {
			g = t
			return
		}
		for _, sub := range t.Sub {
			if g == nil {
				walk(sub)
			}
		}
	}
	walk(t)
	return g != nil && !matchesDot(g)
}

// matchesDot reports whether some match of t may hold a '.'.
func matchesDot(t *syntax.Regexp) bool {
	switch t.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpLiteral:
		for _, r := range t.Rune {
			if r == '.' || t.Flags&syntax.FoldCase != 0 && unicode.SimpleFold(r) == '.' {
				return true
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(t.Rune); i += 2 {
			if t.Rune[i] <= '.' && '.' <= t.Rune[i+1] {
				return true
			}
		}
		return false
	}
	for _, sub := range t.Sub {
		if matchesDot(sub) {
			return true
		}
	}
	return false
}

// minDigitsOf returns the fewest ASCII digits any match of t contains.
func minDigitsOf(t *syntax.Regexp) int {
	switch t.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range t.Rune {
			if r >= '0' && r <= '9' {
				n++
			}
		}
		return n
	case syntax.OpCharClass:
		// A class of digits only: every pair of bounds inside 0-9.
		for i := 0; i+1 < len(t.Rune); i += 2 {
			if t.Rune[i] < '0' || t.Rune[i+1] > '9' {
				return 0
			}
		}
		if len(t.Rune) == 0 {
			return 0
		}
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minDigitsOf(t.Sub[0])
	case syntax.OpRepeat:
		return t.Min * minDigitsOf(t.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, sub := range t.Sub {
			n += minDigitsOf(sub)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, sub := range t.Sub {
			if d := minDigitsOf(sub); n < 0 || d < n {
				n = d
			}
		}
		return max(n, 0)
	}
	return 0
}

// compile builds the keyword automaton and the rule indexes.
func (e *Engine) compile() error {
	e.order = map[string]int{}
	index := map[string]int{}
	var keywords []string
	for ri, r := range e.rules {
		e.order[r.ID] = ri
		tree := r.tree
		if n := maxBytes(tree); n > 0 && n < windowAhead {
			r.maxLen = n
		}
		r.minPart = r.TriggerPart
		switch {
		case len(r.Keywords) > 0:
			for _, k := range r.Keywords {
				ki, ok := index[k]
				if !ok {
					ki = len(keywords)
					index[k] = ki
					keywords = append(keywords, k)
					e.kwRules = append(e.kwRules, nil)
				}
				if !slices.Contains(e.kwRules[ki], ri) {
					e.kwRules[ki] = append(e.kwRules[ki], ri)
				}
			}
		case r.TriggerUpper > 0:
			e.upper = append(e.upper, ri)
		case r.TriggerDigits > 0 || minDigitsOf(tree) >= minTriggerDigits:
			if r.TriggerDigits == 0 {
				r.TriggerDigits = minDigitsOf(tree)
			}
			if r.minPart > 0 && !r.digitTriggerFinds() {
				return fmt.Errorf("rule %s: trigger_part %d misses one of its examples", r.ID, r.TriggerPart)
			}
			if r.minPart == 0 && valueMatchesNoDot(tree) {
				if r.minPart = r.TriggerDigits; !r.digitTriggerFinds() {
					r.minPart = 0 // an example's digits span a dot after all
				}
			}
			if !r.digitTriggerFinds() {
				// Its digits are not contiguous (a codice fiscale mixes
				// letters in): run it on all text rather than miss.
				r.TriggerDigits = 0
				e.always = append(e.always, ri)
				continue
			}
			e.digit = append(e.digit, ri)
			if e.minDig == 0 || r.TriggerDigits < e.minDig {
				e.minDig = r.TriggerDigits
			}
		default:
			e.always = append(e.always, ri)
		}
	}
	e.kw = newMatcher(keywords)
	// A pattern without a bound of its own matches within the window
	// around its keyword, widened back to a separator (see matches).
	unbounded := windowBack + separatorBack + windowAhead
	for _, k := range keywords {
		unbounded = max(unbounded, windowBack+separatorBack+len(k)+windowAhead)
	}
	for _, r := range e.rules {
		if r.maxLen > 0 {
			e.longest = max(e.longest, r.maxLen)
		} else {
			e.longest = max(e.longest, unbounded)
		}
	}
	e.scratch = &sync.Pool{New: func() any {
		return &scratch{dfas: dfaCache{dfas: make([]*prefilterDFA, len(e.rules))}, sc: scanState{newest: make([]int32, len(e.rules))}}
	}}
	return nil
}

// Rules returns the compiled rules.
func (e *Engine) Rules() []*Rule { return e.rules }

// Pushdown returns the literal keywords and the patterns a datastore can
// search for to find candidate rows, each once.
func (e *Engine) Pushdown() (keywords, patterns []string) {
	for _, r := range e.rules {
		for _, k := range r.Keywords {
			if !slices.Contains(keywords, k) {
				keywords = append(keywords, k)
			}
		}
		if r.Pushdown != "" && len(r.Keywords) == 0 && !slices.Contains(patterns, r.Pushdown) {
			patterns = append(patterns, r.Pushdown)
		}
	}
	return keywords, patterns
}

// Kinds maps each pushdown keyword or pattern to the kinds whose rules use it.
func (e *Engine) Kinds() map[string][]string {
	out := map[string][]string{}
	for _, r := range e.rules {
		keys := r.Keywords
		if len(keys) == 0 {
			keys = []string{r.Pushdown}
		}
		for _, k := range keys {
			if !slices.Contains(out[k], r.Kind) {
				out[k] = append(out[k], r.Kind)
			}
		}
	}
	return out
}

// Scan returns the detections in text, one per value (see dedupe).
//
// Regular expressions run only where they can match: around occurrences of
// a rule's keywords (found for all rules in one Aho–Corasick pass), or
// around spans of digits for rules without keywords; and there only where
// the rule's prefilter (a DFA, prefilter.go) says a match may lie.
func (e *Engine) Scan(text string) []Detection {
	ds, _ := e.scan(text, nil)
	return ds
}

// ScanCounting is Scan, and adds to counts the values of the kinds e
// counts (CountOnly) that Scan leaves out.
func (e *Engine) ScanCounting(text string, counts map[string]int64) []Detection {
	ds, _ := e.scan(text, func(d Detection) { counts[d.Kind]++ })
	return ds
}

// scan is Scan, and says how much work it did: the windows looked at and
// the detections moved (see scanState and dedupe), which tests hold to be
// linear in the length of text.
func (e *Engine) scan(text string, count func(Detection)) (ds []Detection, work int) {
	s := e.scratch.Get().(*scratch)
	e.windows(text, &s.sc)
	var found []Detection
	for i := range s.sc.wins {
		w := &s.sc.wins[i]
		r := e.rules[w.rule]
		found = r.matches(text, w.start, w.end, s.dfas.dfa(w.rule, r.pre), found)
	}
	work = s.sc.steps
	s.sc.reset()
	e.scratch.Put(s)
	// Counted kinds are taken out after dedupe, so that an address inside
	// a longer value is not counted, and before finish, so that they cost
	// no fingerprint.
	ds = e.finish(text, e.uncounted(dedupe(found, e.order, &work), count))
	return ds, work
}

// scratch is what one goroutine scanning reuses from line to line.
type scratch struct {
	dfas dfaCache
	sc   scanState
}

// windows fills sc with the windows each rule runs on in text.
func (e *Engine) windows(text string, sc *scanState) {
	e.kw.find(text, func(kw int32, end int) {
		start := end - e.kw.lens[kw]
		for _, ri := range e.kwRules[kw] {
			if m := e.rules[ri].maxLen; m > 0 {
				// A match holds the keyword and is at most m bytes long.
				sc.addExact(ri, max(0, end-m), min(len(text), start+m))
			} else {
				sc.add(ri, start, end, len(text))
			}
		}
	})
	// Digit and uppercase triggers know where the candidate is: their
	// rules run on that small window only, not on the whole text.
	if len(e.digit) > 0 {
		digitSpans(text, e.minDig, func(start, end, digits, dots, part int) {
			for _, ri := range e.digit {
				// A rule matching no dot needs its digits in one part of
				// the span: a dotted quad (an IP address on every log
				// line) triggers no phone or national-id rule.
				if r := e.rules[ri]; digits >= r.TriggerDigits && dots >= r.TriggerDots && part >= r.minPart {
					sc.addExact(ri, start, end)
				}
			}
		})
	}
	for _, ri := range e.upper {
		upperThenDigit(text, e.rules[ri].TriggerUpper, func(start, end int) {
			sc.addExact(ri, start, end)
		})
	}
	for _, ri := range e.always {
		sc.add(ri, 0, len(text), len(text))
	}
}

// window is a stretch of text one rule's pattern must be run on. olderEnd
// is the furthest end of the rule's windows added before this one (-1:
// none), kept up to date while this window is the rule's newest.
type window struct{ rule, start, end, olderEnd int }

// scanState collects, per rule, the merged windows around its triggers.
type scanState struct {
	wins []window
	// newest[r] is 1 + the index in wins of rule r's newest window, 0
	// when r has none yet.
	newest []int32
	// steps counts the windows looked at while adding: tests hold it to
	// a few per add, whatever the length of the text.
	steps int
}

// reset empties sc for the next text, keeping its memory unless a long
// text made it large.
func (sc *scanState) reset() {
	for _, w := range sc.wins {
		sc.newest[w.rule] = 0
	}
	sc.wins, sc.steps = sc.wins[:0], 0
	if cap(sc.wins) > 1<<16 {
		sc.wins = nil
	}
}

// Around a trigger, a rule's match may start up to windowBack bytes before
// and end up to windowAhead bytes after (the longest values, PEM private
// keys, are a few KB). Text up to wholeText bytes is searched whole.
const (
	windowBack  = 512
	windowAhead = 8192
	wholeText   = 16 << 10
	// separatorBack is how far before its window a rule's search may
	// begin, back to a separator.
	separatorBack = 256
)

func (sc *scanState) add(rule, start, end, n int) {
	ws, we := 0, n
	if n > wholeText {
		ws, we = max(0, start-windowBack), min(n, end+windowAhead)
	}
	sc.addExact(rule, ws, we)
}

// addExact adds the window [ws, we) for rule, merged into the newest of
// the rule's windows it overlaps.
//
// Every trigger adds its windows in order along the text, so a window
// overlaps the rule's newest or none: each add then looks at one window,
// and a line costs time in proportion to its length. Only a window that
// misses the newest but reaches back into older ones (which no trigger
// makes today) walks back over the windows.
func (sc *scanState) addExact(rule, ws, we int) {
	sc.steps++
	k := int(sc.newest[rule]) - 1
	olderEnd := -1
	if k >= 0 {
		w := &sc.wins[k]
		if ws <= w.end && w.start <= we {
			w.start, w.end = min(w.start, ws), max(w.end, we)
			return
		}
		if w.olderEnd >= ws {
			// An older window may overlap: the newest of those that do
			// takes it.
			for i := k - 1; i >= 0; i-- {
				sc.steps++
				o := &sc.wins[i]
				if o.rule == rule && ws <= o.end && o.start <= we {
					o.start, o.end = min(o.start, ws), max(o.end, we)
					w.olderEnd = max(w.olderEnd, o.end)
					return
				}
			}
		}
		olderEnd = max(w.olderEnd, w.end)
	}
	sc.newest[rule] = int32(len(sc.wins) + 1)
	sc.wins = append(sc.wins, window{rule, ws, we, olderEnd})
}

// matches appends r's detections in text[start:end]. pre, when not nil,
// is r's prefilter.
func (r *Rule) matches(text string, start, end int, pre *prefilterDFA, found []Detection) []Detection {
	if start > 0 {
		// Begin the window at a separator, so that the pattern's "start
		// of text" cannot fall inside a longer token.
		if i := lastSeparator(text[max(0, start-separatorBack):start]); i >= 0 {
			start = max(0, start-separatorBack) + i
		}
	}
	if r.native != nil {
		r.native(text, start, end, func(vs, ve int) {
			if validated, ok := r.accept(text[vs:ve]); ok {
				found = append(found, Detection{Category: r.Category, Kind: r.Kind, Rule: r.ID, Start: vs, End: ve, Validated: validated})
			}
		})
		return found
	}
	// Search again from the end of each value, not of each match: a
	// pattern's trailing boundary consumes the separator that the next
	// value's leading boundary needs ("a@x.cn b@y.cn" holds two emails).
	for pos := start; pos < end; {
		m, off := r.find(text, pos, end, pre)
		if m == nil {
			break
		}
		vs, ve := m[2], m[3]
		if vs < 0 {
			pos = max(m[1]+off, pos+1)
			continue
		}
		vs, ve = vs+off, ve+off
		pos = max(ve, pos+1)
		value := text[vs:ve]
		validated, ok := r.accept(value)
		if !ok {
			continue
		}
		// Redacted and Fingerprint are set by finish, for the values kept.
		found = append(found, Detection{Category: r.Category, Kind: r.Kind, Rule: r.ID, Start: vs, End: ve, Validated: validated})
	}
	return found
}

// separator holds the bytes a window is widened back to (see matches).
var separator = [256]bool{' ': true, '\t': true, '"': true, '\'': true, ',': true, ';': true, '=': true, '<': true, '>': true}

// lastSeparator is strings.LastIndexAny(s, " \t\"',;=<>") without building
// the byte set at every window: the bytes are ASCII, so no byte of a
// multi-byte rune is one.
func lastSeparator(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if separator[s[i]] {
			return i
		}
	}
	return -1
}

// digitSpans calls fn with every span of text made of digits and single
// separators (space, - . / ( ) +) that holds at least minDigits digits,
// widened by a little context: phone numbers, card numbers, national ids
// and IBANs all live in such spans. The digits of a leading ISO date
// (2025-01-01, which starts nearly every log line) do not count.
//
// part is the most digits between two dots of the span (isoDate aside):
// a rule whose pattern matches no dot finds its digits within one such part.
func digitSpans(text string, minDigits int, fn func(start, end, digits, dots, part int)) {
	// Wide enough for what a match may hold around its digits (an IBAN
	// can end in letters after its last digit).
	const before, after = 40, 40
	// The counts are locals of one span's loop, not state shared with a
	// closure: they stay in registers on digit-heavy lines.
	for i := 0; i < len(text); i++ {
		// Outside a span only a digit matters: skip eight bytes at a
		// time while none is one.
		for i+8 <= len(text) {
			if d := digitBytes(text[i : i+8]); d != 0 {
				i += bits.TrailingZeros64(d) / 8
				break
			}
			i += 8
		}
		if i == len(text) {
			break
		}
		if spanByte[text[i]] != spanDigit {
			continue
		}
		start := i
		digits, seps, dots, part, maxPart := 0, 0, 0, 0, 0
	span:
		for ; i < len(text); i++ {
			switch spanByte[text[i]] {
			case spanDigit:
				digits++
				part++
				seps = 0
			case spanSep:
				if text[i] == '.' {
					dots++
					maxPart, part = max(maxPart, part), 0
				}
				if seps++; seps > 2 {
					break span
				}
			default:
				break span
			}
		}
		// The span is text[start:i]; text[i], if any, is no digit.
		if isoDate(text[start:i]) {
			digits -= 8
		}
		if digits >= minDigits {
			fn(max(0, start-before), min(len(text), i+after), digits, dots, max(maxPart, part))
		}
	}
}

// digitBytes returns the eight bytes of s (len(s) == 8, little-endian)
// with the top bit of each ASCII digit's byte set and every other bit
// clear: a byte b is a digit when '0'-1 < b < '9'+1, tested on all eight
// at once without a carry from one byte into the next (each sum stays
// under 256), and bytes from 0x80 up are masked out by ^x.
func digitBytes(s string) uint64 {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const ones, low7, high = 0x0101010101010101, 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	const m, n = '0' - 1, '9' + 1
	y := x & low7
	return (ones*(127+n) - y) & ^x & (y + ones*(127-m)) & high
}

// upperThenDigit calls fn around every run of at least n uppercase ASCII
// letters directly followed by a digit; n is at least 1.
func upperThenDigit(text string, n int, fn func(start, end int)) {
	upper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	// A digit at j counts when text[j-n:j] is all uppercase, so where
	// text[j-1] is not, the next n positions cannot count either: look
	// at every n-th byte, and closer only around an uppercase one.
	for j := n; j < len(text); {
		if !upper(text[j-1]) {
			j += n
			continue
		}
		k := j - 1 // the run's start
		for k > 0 && upper(text[k-1]) {
			k--
		}
		e := j // the byte after the run
		for e < len(text) && upper(text[e]) {
			e++
		}
		if e < len(text) && e-k >= n && text[e] >= '0' && text[e] <= '9' {
			fn(max(0, k-2), min(len(text), e+24))
		}
		j = e + 1 + n
	}
}

// isoDate reports whether s starts with a date such as 2025-01-01.
func isoDate(s string) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' || (s[:2] != "19" && s[:2] != "20") {
		return false
	}
	for _, i := range []int{2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const (
	spanOther = iota
	spanDigit
	spanSep
)

// spanByte classifies bytes for digitSpans.
var spanByte = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = spanDigit
	}
	for _, c := range " -./()+" {
		t[c] = spanSep
	}
	return t
}()

// dedupe keeps one detection per value: where detections overlap, a secret
// wins over personal data (a token in a URL's userinfo looks like an
// email's local part; digits inside a token can pass a card's Luhn check),
// then a validated one, then the longer, then the earlier rule. It adds to
// *work the detections it moves or the words of its bitmap it reads.
func dedupe(found []Detection, order map[string]int, work *int) []Detection {
	if len(found) < 2 {
		return found
	}
	better := func(a, b Detection) bool {
		if a.Category != b.Category {
			return a.Category == "secret"
		}
		if a.Validated != b.Validated {
			return a.Validated
		}
		if a.End-a.Start != b.End-b.Start {
			return a.End-a.Start > b.End-b.Start
		}
		return order[a.Rule] < order[b.Rule]
	}
	sort.SliceStable(found, func(i, j int) bool { return better(found[i], found[j]) })
	if len(found) > dedupeByInsert && !slices.ContainsFunc(found, func(d Detection) bool { return d.Start >= d.End }) {
		return keepHeld(found, work)
	}
	return keepInserting(found, work)
}

// dedupeByInsert is the most detections dedupe keeps by inserting each in
// order: past it, inserting costs time in the square of their number.
const dedupeByInsert = 64

// keepInserting keeps, of found sorted best first, those that overlap none
// kept before, in order of start.
func keepInserting(found []Detection, work *int) []Detection {
	// Kept detections, sorted by start and never overlapping: a candidate
	// overlaps one only if it overlaps its neighbour by start.
	var out []Detection
	for _, d := range found {
		*work++
		i := sort.Search(len(out), func(k int) bool { return out[k].Start >= d.Start })
		if i > 0 && out[i-1].End > d.Start || i < len(out) && out[i].Start < d.End {
			continue
		}
		*work += len(out) - i
		out = slices.Insert(out, i, d)
	}
	return out
}

// keepHeld keeps what keepInserting keeps, with a bit per byte of text
// saying whether a kept detection holds it, so that each detection costs
// time in proportion to its length. No detection in found is empty.
func keepHeld(found []Detection, work *int) []Detection {
	lo, hi := found[0].Start, 0
	for _, d := range found {
		lo, hi = min(lo, d.Start), max(hi, d.End)
	}
	held := make([]uint64, (hi-lo)/64+1) // bit i: byte lo+i
	out := found[:0]                     // each kept one is written over one already read
	for _, d := range found {
		*work += 1 + (d.End-d.Start)/64
		if anyHeld(held, d.Start-lo, d.End-lo) {
			continue
		}
		for i := d.Start - lo; i < d.End-lo; i++ {
			held[i/64] |= 1 << (i % 64)
		}
		out = append(out, d)
	}
	clear(found[len(out):]) // drop the strings of those left out
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// anyHeld reports whether any bit of held in [start, end) is set.
func anyHeld(held []uint64, start, end int) bool {
	for i := start; i < end; {
		if i%64 == 0 && end-i >= 64 {
			if held[i/64] != 0 {
				return true
			}
			i += 64
			continue
		}
		if held[i/64]&(1<<(i%64)) != 0 {
			return true
		}
		i++
	}
	return false
}

// placeholders are pieces of documentation values, never of real ones.
var placeholders = []string{"EXAMPLE", "example", "xxxx", "XXXX", "your_", "YOUR_", "<", ">", "...", "****", "dummy", "DUMMY", "placeholder", "changeme", "redacted", "REDACTED"}

var placeholderPasswords = map[string]bool{"password": true, "pass": true, "secret": true, "changeme": true, "pwd": true, "passwd": true, "admin": true, "root": true, "test": true, "example": true}

// placeholderDomains end the email addresses of documentation.
var placeholderDomains = []string{"@example.com", "@example.org", "@github.com"}

// Placeholders returns pieces of text any one of which makes a value of r
// a documentation or placeholder value that accept rejects: a datastore
// skips such values before it sends rows back (datastore.Extract.Exclude),
// so that a table full of AKIAIOSFODNN7EXAMPLE costs one row, not the
// sample. accept stays the judge: the list only has to be a part of what
// it rejects.
func (r *Rule) Placeholders() []string {
	out := slices.Clone(placeholders)
	if r.Category == "pii" {
		out = append(out, placeholderDomains...)
	}
	if r.PlaceholderCheck == "password" {
		pws := slices.Sorted(maps.Keys(placeholderPasswords))
		for _, pw := range pws {
			out = append(out, ":"+pw+"@")
		}
	}
	return out
}

// accept applies the rule's filters to a value and says whether an offline
// check confirmed it.
func (r *Rule) accept(value string) (validated, ok bool) {
	for _, p := range placeholders {
		if strings.Contains(value, p) {
			return false, false
		}
	}
	if r.Category == "pii" && slices.ContainsFunc(placeholderDomains, func(d string) bool { return strings.HasSuffix(value, d) }) {
		return false, false
	}
	if r.MinEntropy > 0 && Entropy(value) < r.MinEntropy {
		return false, false
	}
	if r.PlaceholderCheck == "password" {
		if _, rest, found := strings.Cut(value, "://"); found {
			userinfo, _, _ := strings.Cut(rest, "@")
			_, pw, _ := strings.Cut(userinfo, ":")
			if placeholderPasswords[strings.ToLower(pw)] || strings.Trim(pw, "*x") == "" {
				return false, false
			}
		}
	}
	if r.Validate != "" {
		if !validators[r.Validate](value) {
			return false, false
		}
		return true, true
	}
	return false, true
}

// Entropy is the Shannon entropy of s in bits per character.
func Entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func lettersAndDashes(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func firstRunes(s string, n int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return strings.Map(printableRune, s[:i])
}

func lastRunes(s string, n int) string {
	i := len(s)
	for k := 0; k < n && i > 0; k++ {
		_, w := utf8.DecodeLastRuneInString(s[:i])
		i -= w
	}
	return strings.Map(printableRune, s[i:])
}

func printableRune(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return '.'
	}
	return r
}
