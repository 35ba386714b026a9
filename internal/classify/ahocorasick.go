package classify

// matcher finds every occurrence of a set of literal keywords in one pass
// (Aho–Corasick). It is compiled to a DFA over byte classes: bytes that
// appear in no keyword share one class, so the table stays small enough to
// sit in cache. A transition into a state that ends a keyword is stored
// negated, so the hot loop tests one sign bit per byte.
type matcher struct {
	class  [256]uint8
	nclass int
	delta  []int32   // state*nclass + class → next state*nclass, negated if it has output
	out    [][]int32 // keyword indexes ending at a state, suffixes included
	lens   []int     // keyword lengths
	maxLen int       // longest keyword
}

func newMatcher(keywords []string) *matcher {
	m := &matcher{}
	var used [256]bool
	for _, k := range keywords {
		for i := 0; i < len(k); i++ {
			used[k[i]] = true
		}
	}
	m.nclass = 1 // class 0: bytes in no keyword
	for b := range 256 {
		if used[b] {
			m.class[b] = uint8(m.nclass)
			m.nclass++
		}
	}
	// Trie, as a table of state*nclass + class → child, -1 for none.
	nc := m.nclass
	size := 1 // states: at most one per keyword byte, and the root
	for _, k := range keywords {
		size += len(k)
	}
	m.delta = make([]int32, nc, size*nc)
	for i := range m.delta {
		m.delta[i] = -1
	}
	m.out = [][]int32{nil}
	for ki, k := range keywords {
		m.lens = append(m.lens, len(k))
		m.maxLen = max(m.maxLen, len(k))
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := int32(m.class[k[i]])
			n := m.delta[s*int32(nc)+c]
			if n < 0 {
				n = int32(len(m.out))
				m.out = append(m.out, nil)
				for range nc {
					m.delta = append(m.delta, -1)
				}
				m.delta[s*int32(nc)+c] = n
			}
			s = n
		}
		m.out[s] = append(m.out[s], int32(ki))
	}
	// Failure links by breadth-first search turn the trie into the DFA:
	// a missing child becomes the failure state's transition.
	fail := make([]int32, len(m.out))
	queue := []int32{}
	for c := range nc {
		if n := m.delta[c]; n >= 0 {
			queue = append(queue, n)
		} else {
			m.delta[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		m.out[s] = append(m.out[s], m.out[fail[s]]...)
		for c := range nc {
			i := int(s)*nc + c
			if n := m.delta[i]; n >= 0 {
				fail[n] = m.delta[int(fail[s])*nc+c]
				queue = append(queue, n)
			} else {
				m.delta[i] = m.delta[int(fail[s])*nc+c]
			}
		}
	}
	for i, n := range m.delta {
		m.delta[i] = n * int32(nc)
		if len(m.out[n]) > 0 {
			m.delta[i] = -m.delta[i]
		}
	}
	return m
}

// find calls fn with the index of every keyword occurrence in text and the
// offset just past it.
func (m *matcher) find(text string, fn func(kw int32, end int)) {
	// Two halves walked in one loop: each step of an automaton waits on the
	// load of the step before, and two independent walks overlap those
	// waits. The second half starts a keyword's length early so that a
	// keyword across the middle is found, and reports only what ends past
	// the middle, after the first half's, so the order is unchanged. A
	// log line of a few hundred bytes gains as much as a long text: the
	// keywords' length, not the text's, bounds what is walked twice.
	const minSplit = 128
	if len(text) < minSplit || m.maxLen >= len(text)/4 {
		m.findRange(text, 0, len(text), 0, fn)
		return
	}
	mid := len(text) / 2
	from := mid - (m.maxLen - 1)
	delta, class := m.delta, &m.class
	nc := int32(m.nclass)
	var buf [16]hit
	later := buf[:0]
	s1, s2 := int32(0), int32(0)
	i, j := 0, from
	for ; i < mid; i, j = i+1, j+1 {
		s1 = delta[s1+int32(class[text[i]])]
		s2 = delta[s2+int32(class[text[j]])]
		if s1|s2 < 0 {
			if s1 < 0 {
				s1 = -s1
				for _, k := range m.out[s1/nc] {
					fn(k, i+1)
				}
			}
			if s2 < 0 {
				s2 = -s2
				for _, k := range m.out[s2/nc] {
					if j+1 > mid {
						later = append(later, hit{k, j + 1})
					}
				}
			}
		}
	}
	for _, h := range later {
		fn(h.kw, h.end)
	}
	// The second walk has the rest of the text to go.
	m.findRange(text, j, len(text), s2, fn)
}

type hit struct {
	kw  int32
	end int
}

// findRange walks text[i:end] from state s.
func (m *matcher) findRange(text string, i, end int, s int32, fn func(kw int32, end int)) {
	delta, class, nc := m.delta, &m.class, int32(m.nclass)
	for ; i < end; i++ {
		s = delta[s+int32(class[text[i]])]
		if s < 0 {
			s = -s
			for _, k := range m.out[s/nc] {
				fn(k, i+1)
			}
		}
	}
}
