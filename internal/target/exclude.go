package target

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Exclusions are addresses, ranges and names never to be swept. A name
// excludes itself and every name under it, and is matched against the name
// an endpoint was reached by; addresses are matched whatever the route.
type Exclusions struct {
	spans []span // merged
	names []string
	raw   []string
}

// Add parses one exclusion: an address, CIDR (all of it, network and
// broadcast included), range or hostname.
func (e *Exclusions) Add(s string) error {
	t, err := Parse(s)
	if err != nil {
		return err
	}
	if t.Port != 0 {
		return fmt.Errorf("exclusion %q names a port; exclusions are whole addresses, ranges or names", s)
	}
	e.raw = append(e.raw, strings.TrimSpace(s))
	if t.Host != "" {
		e.names = append(e.names, t.Host)
		return nil
	}
	if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
		p = p.Masked()
		first := p.Addr()
		if first.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(first.Unmap(), p.Bits()-96)
		}
		t.First, t.Last = p.Addr(), lastOf(p)
	}
	e.spans = mergeSpans(append(e.spans, span{t.First.WithZone(""), t.Last.WithZone("")}))
	return nil
}

// Read adds every exclusion of r, one per line, # comments allowed; a bad
// line is an error naming name:line, and the exclusions are not used.
func (e *Exclusions) Read(r io.Reader, name string) error {
	for t, err := range Lines(r, name) {
		if err != nil {
			return err
		}
		if err := e.Add(t.Raw); err != nil {
			return fmt.Errorf("%s: %w", t.Where, err)
		}
	}
	return nil
}

// Addr reports whether ip is excluded.
func (e *Exclusions) Addr(ip netip.Addr) bool {
	// An exclusion holds whatever interface the address is reached by.
	return e != nil && containsAddr(e.spans, ip.Unmap().WithZone(""))
}

// Host reports whether host is an excluded name or under one.
func (e *Exclusions) Host(host string) bool {
	if e == nil {
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range e.names {
		if host == n || strings.HasSuffix(host, "."+n) {
			return true
		}
	}
	return false
}

// Len is the number of exclusions.
func (e *Exclusions) Len() int {
	if e == nil {
		return 0
	}
	return len(e.raw)
}

// String lists the exclusions in a canonical form, for a resume file to
// check that a resumed scan excludes the same.
func (e *Exclusions) String() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	for _, sp := range e.spans {
		fmt.Fprintf(&b, "%s-%s,", sp.first, sp.last)
	}
	for _, n := range e.names {
		b.WriteString(n + ",")
	}
	return b.String()
}
