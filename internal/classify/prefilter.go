package classify

import (
	"regexp/syntax"
	"slices"
	"sync"
	"unicode/utf8"
)

// prefilter decides, at about a nanosecond a byte, whether a rule's pattern
// may match somewhere in a window. Go's regexp costs microseconds per
// window even when nothing matches, and nearly all windows a trigger opens
// hold no match: the regexp then runs only where it will likely find
// something, so what is found does not change.
//
// It is a DFA over bytes, built lazily from the pattern's program as RE2
// does, run on exactly the text the regexp would be: ^ and $ hold only at
// its ends, as for the regexp. It over-approximates the pattern and never
// under: other empty-width assertions (\b, (?m)^) count as always true, a
// long counted repetition as unbounded, and a non-ASCII character as any
// run of bytes from 0x80 up.
// The program is shared; the states are built per goroutine (prefilterDFA)
// so that scanning takes no lock.
type prefilter struct {
	pattern string
	once    sync.Once
	prog    *syntax.Prog // nil: no prefilter (a pattern matching the empty text)
	class   [256]uint8
	nclass  int
	// takes[pc] holds a bit per byte class: the classes a rune
	// instruction may take as its first byte.
	takes [][]uint64
	// high[pc]: the rune instruction matches some non-ASCII rune.
	high []bool
	// start is the closure of the program's start at the start of the
	// text, restart elsewhere.
	start, restart []int32
}

const (
	// Counted repetitions with more optional copies than this are
	// treated as unbounded: the automaton stays small, and a text that
	// has the minimum of copies is tested by the regexp anyway.
	prefilterMaxOptional = 8
	// prefilterMaxStates bounds one goroutine's automaton of one rule;
	// past it the states are dropped and built again.
	prefilterMaxStates = 2048
	// prefilterMaxBytes bounds the automata of all rules of one goroutine
	// (dfaCache), whatever the input: past it they are all dropped.
	prefilterMaxBytes = 8 << 20

	dfaMatch   = -1 // a match has ended: the pattern may match
	dfaUnknown = -2 // transition not built yet
)

func newPrefilter(pattern string) *prefilter { return &prefilter{pattern: pattern} }

// init compiles the relaxed pattern, once, on first use: most rules of a
// short run never need it.
func (p *prefilter) init() {
	re, err := syntax.Parse(p.pattern, syntax.Perl)
	if err != nil {
		return
	}
	prog, err := syntax.Compile(relaxRepeats(re).Simplify())
	if err != nil {
		return
	}
	p.prog = prog
	p.byteClasses()
	start, match := p.closure([]int32{int32(prog.Start)}, true, false, nil)
	if match {
		p.prog = nil // matches the empty text: everything passes
		return
	}
	p.start = start
	p.restart, _ = p.closure([]int32{int32(prog.Start)}, false, false, nil)
}

// relaxRepeats widens x{n,m} to x{n,} where m-n is large: a superset, with
// a far smaller automaton.
func relaxRepeats(re *syntax.Regexp) *syntax.Regexp {
	for i, sub := range re.Sub {
		re.Sub[i] = relaxRepeats(sub)
	}
	if re.Op == syntax.OpRepeat && re.Max-re.Min > prefilterMaxOptional {
		re.Max = -1
	}
	return re
}

func isRuneInst(op syntax.InstOp) bool {
	switch op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

func isRuneInst1(op syntax.InstOp) bool { return op == syntax.InstRune || op == syntax.InstRune1 }

// byteClasses computes which bytes each rune instruction may take first,
// and splits the bytes into classes that no instruction tells apart. All
// bytes from 0x80 up share one class.
func (p *prefilter) byteClasses() {
	n := len(p.prog.Inst)
	p.high = make([]bool, n)
	// For each ASCII byte, the instructions taking it, as a bitset.
	words := (n + 63) / 64
	sig := make([][]uint64, utf8.RuneSelf)
	for c := range sig {
		sig[c] = make([]uint64, words)
	}
	for pc := range p.prog.Inst {
		in := &p.prog.Inst[pc]
		if !isRuneInst(in.Op) {
			continue
		}
		for c := range utf8.RuneSelf {
			// MatchRune knows only InstRune and InstRune1.
			if in.Op == syntax.InstRuneAny || in.Op == syntax.InstRuneAnyNotNL && c != '\n' || isRuneInst1(in.Op) && in.MatchRune(rune(c)) {
				sig[c][pc/64] |= 1 << (pc % 64)
			}
		}
		high := true
		if in.Op == syntax.InstRune || in.Op == syntax.InstRune1 {
			high = slices.ContainsFunc(in.Rune, func(r rune) bool { return r >= utf8.RuneSelf })
			if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
				// Case folding maps k to the Kelvin sign, s to the long s.
				high = high || in.MatchRune('\u212A') || in.MatchRune('\u017F')
			}
		}
		p.high[pc] = high
	}
	var reps []int // the first byte of each class
	for c := range utf8.RuneSelf {
		k := slices.IndexFunc(reps, func(r int) bool { return slices.Equal(sig[r], sig[c]) })
		if k < 0 {
			k = len(reps)
			reps = append(reps, c)
		}
		p.class[c] = uint8(k)
	}
	highClass := uint8(len(reps))
	for c := utf8.RuneSelf; c < 256; c++ {
		p.class[c] = highClass
	}
	p.nclass = len(reps) + 1
	cw := (p.nclass + 63) / 64
	p.takes = make([][]uint64, n)
	for pc := range p.prog.Inst {
		if !isRuneInst(p.prog.Inst[pc].Op) {
			continue
		}
		p.takes[pc] = make([]uint64, cw)
		for k, r := range reps {
			if sig[r][pc/64]&(1<<(pc%64)) != 0 {
				p.takes[pc][k/64] |= 1 << (k % 64)
			}
		}
		if p.high[pc] {
			p.takes[pc][int(highClass)/64] |= 1 << (highClass % 64)
		}
	}
}

// An NFA position is a rune instruction's pc, or pc+len(prog.Inst) for
// "inside a non-ASCII rune that instruction took": more bytes from 0x80 up
// may follow before its Out.

// closure follows empty transitions from pcs and returns the sorted
// positions reached that consume a byte or wait for the end of the text
// (at $), and whether a match is. ^ holds only atStart, $ only atEnd;
// other assertions always. seen is scratch space, reused.
func (p *prefilter) closure(pcs []int32, atStart, atEnd bool, seen []bool) (out []int32, match bool) {
	n := int32(len(p.prog.Inst))
	if seen == nil {
		seen = make([]bool, 2*n)
	}
	stack := pcs
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		out = append(out, pc)
		if pc >= n {
			continue // a tail position
		}
		in := &p.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, int32(in.Out), int32(in.Arg))
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, int32(in.Out))
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if (op&syntax.EmptyBeginText == 0 || atStart) && (op&syntax.EmptyEndText == 0 || atEnd) {
				stack = append(stack, int32(in.Out))
			}
		case syntax.InstMatch:
			match = true
		}
	}
	for _, pc := range out {
		seen[pc] = false
	}
	out = slices.DeleteFunc(out, func(pc int32) bool { return pc < n && !p.keep(&p.prog.Inst[pc]) })
	slices.Sort(out)
	return out, match
}

// keep reports whether a state holds an instruction: one that consumes a
// byte, or a $ that may hold at the end of the text.
func (p *prefilter) keep(in *syntax.Inst) bool {
	return isRuneInst(in.Op) || in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&syntax.EmptyEndText != 0
}

// prefilterDFA is one goroutine's automaton for one prefilter.
type prefilterDFA struct {
	p *prefilter
	// delta maps state*nclass + class to the next state*nclass, or to
	// dfaMatch or dfaUnknown.
	delta []int32
	sets  [][]int32 // state → its NFA positions
	// atEnd says, per state, whether the pattern matches if the text
	// ends there: 0 not known yet, 1 no, 2 yes.
	atEnd []uint8
	ids   map[string]int32
	seen  []bool
	key   []byte
	// size counts the bytes of states built, into a total that the owner
	// of several automata bounds.
	size *int
}

// newDFA returns a new automaton of p that adds the bytes of the states it
// builds to *size, or nil if p would let everything through.
func (p *prefilter) newDFA(size *int) *prefilterDFA {
	p.once.Do(p.init)
	if p.prog == nil {
		return nil
	}
	if size == nil {
		size = new(int)
	}
	d := &prefilterDFA{p: p, size: size}
	d.reset()
	return d
}

func (d *prefilterDFA) reset() {
	d.delta = d.delta[:0]
	d.sets = d.sets[:0]
	d.atEnd = d.atEnd[:0]
	d.ids = map[string]int32{}
	d.seen = make([]bool, 2*len(d.p.prog.Inst))
	d.state(d.p.start)
}

// mayMatch reports whether the pattern may match somewhere in text; when
// it says no, the pattern matches nowhere in text.
func (d *prefilterDFA) mayMatch(text string) bool {
	class := &d.p.class
	s := int32(0)
	for i := 0; i < len(text); i++ {
		c := int32(class[text[i]])
		next := d.delta[s+c]
		if next < 0 {
			if next == dfaMatch {
				return true
			}
			next = d.build(s, c)
			if next == dfaMatch {
				return true
			}
		}
		s = next
	}
	return d.matchesAtEnd(s)
}

// matchesAtEnd reports whether the pattern matches when the text ends in
// state s: whether a $ there leads to a match.
func (d *prefilterDFA) matchesAtEnd(s int32) bool {
	i := s / int32(d.p.nclass)
	if d.atEnd[i] == 0 {
		var waiting []int32
		n := int32(len(d.p.prog.Inst))
		for _, pc := range d.sets[i] {
			if pc < n && d.p.prog.Inst[pc].Op == syntax.InstEmptyWidth {
				waiting = append(waiting, pc)
			}
		}
		d.atEnd[i] = 1
		// The text may be empty: then ^ holds at its end too.
		if _, match := d.p.closure(waiting, s == 0, true, d.seen); match {
			d.atEnd[i] = 2
		}
	}
	return d.atEnd[i] == 2
}

// build makes the transition from state s on class c.
func (d *prefilterDFA) build(s, c int32) int32 {
	p := d.p
	n := int32(len(p.prog.Inst))
	high := c == int32(p.nclass-1)
	var next []int32
	for _, pos := range d.sets[s/int32(p.nclass)] {
		if pos >= n {
			if high { // a tail
				next = append(next, pos, int32(p.prog.Inst[pos-n].Out))
			}
			continue
		}
		if p.takes[pos] != nil && p.takes[pos][c/64]&(1<<(c%64)) != 0 {
			next = append(next, int32(p.prog.Inst[pos].Out))
			if high {
				next = append(next, pos+n)
			}
		}
	}
	// The search is unanchored: a match may start at any byte.
	next = append(next, p.restart...)
	set, match := p.closure(next, false, false, d.seen)
	to := int32(dfaMatch)
	if !match {
		if len(d.sets) >= prefilterMaxStates {
			d.reset()
			return d.state(set)
		}
		to = d.state(set)
	}
	d.delta[s+c] = to
	return to
}

// state returns the state of a set of positions, adding it if new.
func (d *prefilterDFA) state(set []int32) int32 {
	d.key = d.key[:0]
	for _, pc := range set {
		d.key = append(d.key, byte(pc), byte(pc>>8), byte(pc>>16))
	}
	if id, ok := d.ids[string(d.key)]; ok {
		return id
	}
	id := int32(len(d.sets) * d.p.nclass)
	d.ids[string(d.key)] = id
	d.sets = append(d.sets, set)
	d.atEnd = append(d.atEnd, 0)
	*d.size += 4*d.p.nclass + 4*len(set) + 2*len(d.key) + 64
	for range d.p.nclass {
		d.delta = append(d.delta, dfaUnknown)
	}
	return id
}

// dfaCache is one goroutine's automata, indexed by rule, each built on
// first use.
type dfaCache struct {
	dfas []*prefilterDFA
	size int // bytes of all their states
}

// dfa returns the automaton of rule ri, or nil if it has no prefilter.
func (c *dfaCache) dfa(ri int, p *prefilter) *prefilterDFA {
	if p == nil {
		return nil
	}
	if c.size > prefilterMaxBytes {
		clear(c.dfas)
		c.size = 0
	}
	d := c.dfas[ri]
	if d == nil {
		d = p.newDFA(&c.size)
		c.dfas[ri] = d
	}
	return d
}
