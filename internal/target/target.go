// Package target parses what a user names to scan (addresses, CIDRs,
// hostnames, host:port, URLs, files of these) and streams the addresses
// they expand to, never holding a whole range in memory.
package target

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Target is one thing the user named.
type Target struct {
	Raw   string     // as written, for error messages
	Host  string     // hostname to resolve, "" for addresses and ranges
	First netip.Addr // first and last address of a range; equal for one address
	Last  netip.Addr
	Port  int    // 0: scan the port list
	Where string // "argument 2", "targets.txt:14"
}

// Name reports whether t is a bare hostname: a domain whose subdomains may be
// discovered, as opposed to host:port or a URL, which name one endpoint.
func (t Target) Name() bool { return t.Host != "" && t.Port == 0 }

// Size is the number of addresses of a range, saturating at 2^64-1.
func (t Target) Size() uint64 {
	if t.Host != "" || !t.First.IsValid() {
		return 0
	}
	return sizeOf(t.First, t.Last)
}

// Parse reads one target. It accepts an IP, a CIDR, a range (first-last, or
// 10.0.0.1-40 for the last octet), a hostname, host:port, [v6]:port, and URLs
// (scheme://host[:port]/…; without a port, the port the scheme means:
// RegisterScheme). The network and broadcast addresses of an IPv4
// CIDR wider than /31 are left out: they answer nobody.
func Parse(s string) (Target, error) {
	t := Target{Raw: s}
	s = strings.TrimSpace(s)
	if s == "" {
		return t, errors.New("empty target")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return t, fmt.Errorf("%q is not a URL with a host", s)
		}
		host := u.Hostname()
		if u.Port() != "" {
			p, err := ParsePort(u.Port())
			if err != nil {
				return t, fmt.Errorf("%q: %w", s, err)
			}
			t.Port = p
		} else if p, ok := schemePort(u.Scheme); ok {
			t.Port = p
		}
		return hostOrAddr(t, host)
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		t.First, t.Last = prefixBounds(p)
		return t, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return withAddr(t, a)
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		if first, err := netip.ParseAddr(lo); err == nil {
			return parseRange(t, first.Unmap(), hi)
		}
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		port, err := ParsePort(p)
		if err != nil {
			return t, fmt.Errorf("%q: %w", s, err)
		}
		t.Port = port
		return hostOrAddr(t, h)
	}
	return hostOrAddr(t, s)
}

// parseRange reads the end of "first-last"; an IPv4 last may be only the
// last octet.
func parseRange(t Target, first netip.Addr, hi string) (Target, error) {
	last, err := netip.ParseAddr(hi)
	if err != nil && first.Is4() && allDigits(hi) && len(hi) <= 3 {
		if n, _ := strconv.Atoi(hi); n <= 255 {
			b := first.As4()
			b[3] = byte(n)
			last, err = netip.AddrFrom4(b), nil
		}
	}
	switch {
	case err != nil:
		return t, fmt.Errorf("range %q: %q is not an address", t.Raw, hi)
	case first.Zone() != "" || last.Zone() != "":
		return t, fmt.Errorf("range %q: addresses with a zone cannot form a range", t.Raw)
	}
	last = last.Unmap()
	if first.Is4() != last.Is4() {
		return t, fmt.Errorf("range %q mixes IPv4 and IPv6", t.Raw)
	}
	if last.Less(first) {
		return t, fmt.Errorf("range %q runs backwards", t.Raw)
	}
	t.First, t.Last = first, last
	return t, nil
}

// prefixBounds returns the first and last address of p worth sweeping.
func prefixBounds(p netip.Prefix) (first, last netip.Addr) {
	p = p.Masked()
	first = p.Addr()
	if first.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(first.Unmap(), p.Bits()-96)
		first = p.Addr()
	}
	last = lastOf(p)
	if first.Is4() && p.Bits() < 31 {
		first, last = first.Next(), last.Prev()
	}
	return first, last
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func hostOrAddr(t Target, host string) (Target, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return withAddr(t, a)
	}
	if !ValidHostname(host) || allDigits(lastLabel(host)) {
		// 999.1.1.1 or 127.1 is a mistyped address, not a name to resolve.
		return t, fmt.Errorf("%q is not an address, CIDR, hostname or URL", t.Raw)
	}
	t.Host = strings.TrimSuffix(strings.ToLower(host), ".")
	return t, nil
}

// withAddr makes t the one address a. A zone (fe80::1%eth0) is kept: it
// says which interface reaches a link-local address, which cannot be
// reached at all without it.
func withAddr(t Target, a netip.Addr) (Target, error) {
	if z := a.Zone(); z != "" && !ValidZone(z) {
		return t, fmt.Errorf("%q: zone %q is not an interface name or number", t.Raw, z)
	}
	t.First, t.Last = a.Unmap(), a.Unmap()
	return t, nil
}

// ValidZone reports whether z may name a network interface: 1 to 15
// printable bytes (Linux's limit), none of them a slash, colon, percent
// sign or space.
func ValidZone(z string) bool {
	if z == "" || len(z) > 15 {
		return false
	}
	for i := 0; i < len(z); i++ {
		if c := z[i]; c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == '%' {
			return false
		}
	}
	return true
}

func lastLabel(h string) string {
	h = strings.TrimSuffix(h, ".")
	return h[strings.LastIndexByte(h, '.')+1:]
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// ValidHostname reports whether h is a hostname of DNS labels (letters,
// digits, hyphens inside, underscores), each 1 to 63 bytes, 253 in all; a
// trailing dot is allowed.
func ValidHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParsePort parses one port number.
func ParsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return p, nil
}

// MaxLine is the longest line of a target list read: far beyond any
// target, short enough that a line is held in memory.
const MaxLine = 64 << 10

// ErrLongLine is the error of a line longer than MaxLine.
var ErrLongLine = fmt.Errorf("line longer than %d KiB: skipped", MaxLine>>10)

// Lines reads targets from r, one per line; blank lines are skipped, and so
// is anything after a #. A line of several words is an error, not its first
// word: guessing which word was meant could scan the wrong host.
// A bad line, a line too long included, is yielded as an error naming
// name:line, and reading goes on; a read error ends the list.
func Lines(r io.Reader, name string) iter.Seq2[Target, error] {
	return func(yield func(Target, error) bool) {
		br := bufio.NewReaderSize(r, MaxLine)
		n := 0
		for {
			raw, err := br.ReadSlice('\n')
			long := errors.Is(err, bufio.ErrBufferFull)
			for errors.Is(err, bufio.ErrBufferFull) {
				// Drop the rest of the line without holding it.
				_, err = br.ReadSlice('\n')
			}
			if len(raw) == 0 && err != nil {
				if !errors.Is(err, io.EOF) {
					yield(Target{Where: name}, fmt.Errorf("%s: line %d: %w", name, n+1, err))
				}
				return
			}
			n++
			where := fmt.Sprintf("%s:%d", name, n)
			if long {
				if !yield(Target{Where: where}, fmt.Errorf("%s: %w", where, ErrLongLine)) {
					return
				}
			} else if !yieldLine(yield, string(raw), where) {
				return
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					yield(Target{Where: name}, fmt.Errorf("%s: line %d: %w", name, n+1, err))
				}
				return
			}
		}
	}
}

// yieldLine parses one line of a target list; it reports false when the
// consumer stopped.
func yieldLine(yield func(Target, error) bool, line, where string) bool {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return true
	case len(f) > 1:
		return yield(Target{Raw: line, Where: where}, fmt.Errorf("%s: %d words, want one target per line", where, len(f)))
	}
	t, err := Parse(f[0])
	t.Where = where
	if err != nil {
		err = fmt.Errorf("%s: %w", t.Where, err)
	}
	return yield(t, err)
}
