// Package resolve asks a DNS server for addresses, itself: a scan's names
// go to the resolver the user named and nowhere else, and subdomains are
// discovered by brute force against it, with wildcard zones detected.
package resolve

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// ErrNoSuchHost is returned for a name that does not exist (NXDOMAIN) or
// has no address.
var ErrNoSuchHost = errors.New("no such host")

// Resolver sends queries to one DNS server.
type Resolver struct {
	Server  string        // host:port of the server
	Timeout time.Duration // per query try; default 2s
	Retries int           // further tries of a query that got no answer; default 2
}

// SystemServer returns the first nameserver of resolv.conf, as host:port.
func SystemServer(resolvConf string) (string, error) {
	f, err := os.Open(resolvConf)
	if err != nil {
		return "", fmt.Errorf("no resolver given and %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip, err := netip.ParseAddr(fields[1]); err == nil {
				return netip.AddrPortFrom(ip.WithZone(""), 53).String(), nil
			}
		}
	}
	return "", fmt.Errorf("no resolver given and no nameserver in %s", resolvConf)
}

// LookupNetIP returns the IPv4 and IPv6 addresses of host, sorted; network
// is "ip", "ip4" or "ip6". It satisfies the interface of net.Resolver's
// method of that name.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []dnsmessage.Type
	switch network {
	case "ip":
		types = []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
	case "ip4":
		types = []dnsmessage.Type{dnsmessage.TypeA}
	case "ip6":
		types = []dnsmessage.Type{dnsmessage.TypeAAAA}
	default:
		return nil, fmt.Errorf("resolving %s: network %q is not ip, ip4 or ip6", host, network)
	}
	var (
		mu   sync.Mutex
		all  []netip.Addr
		errs []error
		wg   sync.WaitGroup
	)
	for _, t := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ips, err := r.query(ctx, host, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !errors.Is(err, ErrNoSuchHost) {
				errs = append(errs, err)
			}
			all = append(all, ips...)
		}()
	}
	wg.Wait()
	if len(all) > 0 {
		slices.SortFunc(all, netip.Addr.Compare)
		return slices.Compact(all), nil
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("resolving %s through %s: %w", host, r.Server, errors.Join(errs...))
	}
	return nil, fmt.Errorf("resolving %s through %s: %w", host, r.Server, ErrNoSuchHost)
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 2 * time.Second
}

// query asks for one record type of name, over UDP, and over TCP when the
// answer comes back truncated.
func (r *Resolver) query(ctx context.Context, name string, t dnsmessage.Type) ([]netip.Addr, error) {
	q, err := dnsmessage.NewName(strings.TrimSuffix(name, ".") + ".")
	if err != nil {
		return nil, fmt.Errorf("%q is not a DNS name", name)
	}
	question := dnsmessage.Question{Name: q, Type: t, Class: dnsmessage.ClassINET}
	retries := r.Retries
	if retries == 0 {
		retries = 2
	}
	var lastErr error
	for try := 0; try <= max(retries, 0); try++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		id := uint16(rand.Uint32())
		msg, err := build(id, question)
		if err != nil {
			return nil, err
		}
		ips, truncated, err := r.exchangeUDP(ctx, msg, id, question)
		if err == nil && truncated {
			ips, err = r.exchangeTCP(ctx, msg, id, question)
		}
		if err == nil || errors.Is(err, ErrNoSuchHost) {
			return ips, err
		}
		lastErr = err
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, errServerFailure) {
			break // an answer we cannot use will not improve
		}
	}
	return nil, lastErr
}

var errServerFailure = errors.New("server failure")

func build(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 64), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (r *Resolver) exchangeUDP(ctx context.Context, msg []byte, id uint16, q dnsmessage.Question) ([]netip.Addr, bool, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", r.Server)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	deadline := time.Now().Add(r.timeout())
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	if _, err := c.Write(msg); err != nil {
		return nil, false, err
	}
	buf := make([]byte, 4096)
	var malformed error
	for {
		n, err := c.Read(buf)
		if err != nil {
			if malformed != nil {
				return nil, false, malformed
			}
			return nil, false, err
		}
		ips, truncated, err := Parse(buf[:n], id, q)
		if errors.Is(err, errNotOurs) || errors.Is(err, errMalformed) {
			// A stray, spoofed or broken packet: keep waiting for ours, and
			// say what came if nothing better does.
			if errors.Is(err, errMalformed) {
				malformed = err
			}
			continue
		}
		return ips, truncated, err
	}
}

func (r *Resolver) exchangeTCP(ctx context.Context, msg []byte, id uint16, q dnsmessage.Question) ([]netip.Addr, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", r.Server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(r.timeout()))
	out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	if _, err := c.Write(append(out, msg...)); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, err
	}
	ips, _, err := Parse(buf, id, q)
	return ips, err
}

var (
	errNotOurs   = errors.New("answer to another query")
	errMalformed = errors.New("malformed DNS answer")
)

// Parse reads a DNS response to the query id about q: the A and AAAA
// addresses of its answer section (following the server's CNAME chain),
// and whether it was truncated. It is the one place bytes from a DNS server
// are read, and it trusts nothing in them.
func Parse(msg []byte, id uint16, q dnsmessage.Question) (ips []netip.Addr, truncated bool, err error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if h.ID != id || !h.Response {
		return nil, false, errNotOurs
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Type != q.Type || qs[0].Class != q.Class || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return nil, false, errNotOurs
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, false, ErrNoSuchHost
	case dnsmessage.RCodeServerFailure:
		return nil, false, errServerFailure
	default:
		return nil, false, fmt.Errorf("DNS server answered %s", h.RCode)
	}
	if h.Truncated {
		return nil, true, nil
	}
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", errMalformed, err)
		}
		switch {
		case rh.Type == dnsmessage.TypeA && q.Type == dnsmessage.TypeA:
			a, err := p.AResource()
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", errMalformed, err)
			}
			ips = append(ips, netip.AddrFrom4(a.A))
		case rh.Type == dnsmessage.TypeAAAA && q.Type == dnsmessage.TypeAAAA:
			a, err := p.AAAAResource()
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", errMalformed, err)
			}
			ips = append(ips, netip.AddrFrom16(a.AAAA).Unmap())
		default:
			if err := p.SkipAnswer(); err != nil {
				return nil, false, fmt.Errorf("%w: %w", errMalformed, err)
			}
		}
		if len(ips) > 256 {
			break // more than any real name has; the rest is noise
		}
	}
	if len(ips) == 0 {
		return nil, false, ErrNoSuchHost
	}
	return ips, false, nil
}
