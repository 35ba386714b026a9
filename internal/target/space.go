package target

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// MaxTargetAddrs is the most addresses one target may hold: a sweep numbers
// its endpoints, and an IPv6 /64 would be 2^64 of them.
const MaxTargetAddrs = 1 << 40

// Endpoint is one address and port to sweep, with the name it was reached by
// (the address's own text when it was named by address).
type Endpoint struct {
	Host string
	IP   netip.Addr
	Port int
}

func (e Endpoint) String() string {
	return netip.AddrPortFrom(e.IP, uint16(e.Port)).String()
}

type span struct{ first, last netip.Addr }

// Space is a batch of targets laid out as a numbered list of endpoints, so
// that a sweep can visit them in any order, split them among machines and
// remember how far it got, without ever listing them: a /8 on four ports is
// 64M endpoints and a few hundred bytes here.
//
// Endpoints 0 … addrs×len(ports)-1 are the ranges' addresses on every port;
// the rest are endpoints reached through a name or named with a port.
type Space struct {
	ports []int
	spans []span   // sorted, disjoint, exclusions removed
	cum   []uint64 // cum[i]: addresses in spans[:i]
	addrs uint64
	named []Endpoint
	// covered holds the named endpoints that also lie in a range, so the
	// range's copy is skipped and the endpoint keeps its name.
	covered map[netip.AddrPort]bool
}

// Len is the number of endpoints in s.
func (s *Space) Len() uint64 { return s.addrs*uint64(len(s.ports)) + uint64(len(s.named)) }

// Addrs is the number of addresses in s's ranges.
func (s *Space) Addrs() uint64 { return s.addrs }

// At returns endpoint i. It reports false for an endpoint of a range that
// a name also reaches: that one is swept once, under its name.
func (s *Space) At(i uint64) (Endpoint, bool) {
	np := uint64(len(s.ports))
	if i >= s.addrs*np {
		return s.named[i-s.addrs*np], true
	}
	a, p := i/np, s.ports[i%np]
	k, _ := slices.BinarySearch(s.cum, a+1)
	k-- // the last span starting at or before a
	sp := s.spans[k]
	ip := num(sp.first).add(a - s.cum[k]).addr(sp.first.Is4())
	if len(s.covered) > 0 && s.covered[netip.AddrPortFrom(ip, uint16(p))] {
		return Endpoint{}, false
	}
	return Endpoint{Host: ip.String(), IP: ip, Port: p}, true
}

// Builder gathers a batch of targets into a Space. Exclusions are applied
// here, before any endpoint exists, and an endpoint reached twice (two
// overlapping ranges, a range and a name, two names) is kept once.
type Builder struct {
	ports    []int
	exclude  *Exclusions
	spans    []span
	named    []Endpoint
	seen     map[netip.AddrPort]int // index in named
	excluded uint64
}

// NewBuilder returns a Builder for the given port list; ex may be nil.
func NewBuilder(ports []int, ex *Exclusions) *Builder {
	return &Builder{ports: ports, exclude: ex, seen: map[netip.AddrPort]int{}}
}

// Excluded counts the addresses and endpoints left out by exclusions so far.
func (b *Builder) Excluded() uint64 { return b.excluded }

// Add adds an address target: a range, or an address with or without a
// port. Names go through AddResolved once resolved.
func (b *Builder) Add(t Target) error {
	if t.Host != "" || !t.First.IsValid() {
		return fmt.Errorf("%s: %q is not an address or range", t.Where, t.Raw)
	}
	if n := t.Size(); n > MaxTargetAddrs {
		return fmt.Errorf("%q holds %s addresses, more than a sweep numbers (2^40): name a narrower range", t.Raw, approx(n))
	}
	if t.Port != 0 || t.First.Zone() != "" {
		// An address with a zone is an endpoint of its own: a range is
		// numbered without zones.
		b.AddResolved(t.First.String(), t.First, t.Port)
		return nil
	}
	b.spans = append(b.spans, span{t.First, t.Last})
	return nil
}

// AddResolved adds an address reached through host on port, or on every
// port when port is 0. It reports false when an exclusion drops it.
func (b *Builder) AddResolved(host string, ip netip.Addr, port int) bool {
	ip = ip.Unmap()
	if b.exclude.Addr(ip) || (host != ip.String() && b.exclude.Host(host)) {
		b.excluded++
		return false
	}
	ports := b.ports
	if port != 0 {
		ports = []int{port}
	}
	for _, p := range ports {
		k := netip.AddrPortFrom(ip, uint16(p))
		i, ok := b.seen[k]
		switch {
		case !ok:
			b.seen[k] = len(b.named)
			b.named = append(b.named, Endpoint{Host: host, IP: ip, Port: p})
		case b.named[i].Host == ip.String() && host != ip.String():
			b.named[i].Host = host // a name says more than the address's text
		}
	}
	return true
}

// Build returns the Space of everything added. The builder must not be
// used afterwards.
func (b *Builder) Build() *Space {
	s := &Space{ports: b.ports, named: b.named}
	spans := mergeSpans(b.spans)
	if b.exclude != nil && len(b.exclude.spans) > 0 {
		var before uint64
		for _, sp := range spans {
			before += sizeOf(sp.first, sp.last)
		}
		spans = subtractSpans(spans, b.exclude.spans)
		var after uint64
		for _, sp := range spans {
			after += sizeOf(sp.first, sp.last)
		}
		b.excluded += before - after
	}
	s.spans = spans
	s.cum = make([]uint64, len(spans))
	for i, sp := range spans {
		s.cum[i] = s.addrs
		s.addrs += sizeOf(sp.first, sp.last)
	}
	for _, e := range b.named {
		if slices.Contains(b.ports, e.Port) && s.inSpans(e.IP) {
			if s.covered == nil {
				s.covered = map[netip.AddrPort]bool{}
			}
			s.covered[netip.AddrPortFrom(e.IP, uint16(e.Port))] = true
		}
	}
	return s
}

func (s *Space) inSpans(ip netip.Addr) bool { return containsAddr(s.spans, ip) }

func containsAddr(spans []span, ip netip.Addr) bool {
	i, _ := slices.BinarySearchFunc(spans, ip, func(sp span, a netip.Addr) int { return sp.last.Compare(a) })
	return i < len(spans) && spans[i].first.Compare(ip) <= 0 && ip.Compare(spans[i].last) <= 0
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(a.first.Compare(b.first), a.last.Compare(b.last))
	})
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if prev.first.Is4() == sp.first.Is4() && (sp.first.Compare(prev.last) <= 0 || prev.last.Next() == sp.first) {
				if prev.last.Less(sp.last) {
					prev.last = sp.last
				}
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}

// subtractSpans removes ex (sorted, merged) from spans (sorted, merged).
func subtractSpans(spans, ex []span) []span {
	var out []span
	j := 0
	for _, sp := range spans {
		cur := sp
		alive := true
		for j < len(ex) && ex[j].last.Less(cur.first) {
			j++
		}
		for k := j; k < len(ex) && alive && ex[k].first.Compare(cur.last) <= 0; k++ {
			e := ex[k]
			if cur.first.Less(e.first) {
				out = append(out, span{cur.first, e.first.Prev()})
			}
			if e.last.Less(cur.last) {
				cur.first = e.last.Next()
			} else {
				alive = false
			}
		}
		if alive {
			out = append(out, cur)
		}
	}
	return out
}

func approx(n uint64) string {
	if n == ^uint64(0) {
		return "2^64 or more"
	}
	return strconv.FormatUint(n, 10)
}
