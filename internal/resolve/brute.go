package resolve

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/leakhound/leakhound/internal/target"
)

//go:embed wordlist.txt
var builtinWords string

// Builtin yields the built-in subdomain wordlist, most likely first.
func Builtin() iter.Seq[string] {
	return func(yield func(string) bool) {
		for w := range strings.Lines(builtinWords) {
			if w = strings.TrimSpace(w); w != "" && !yield(w) {
				return
			}
		}
	}
}

// Words reads a wordlist, one label per line (# comments allowed), lower-
// cased. Lines that are not a DNS label are skipped and counted in bad, the
// first one named in firstBad as name:line.
func Words(r io.Reader, name string) (words []string, bad int, firstBad string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	seen := map[string]bool{}
	n := 0
	for sc.Scan() {
		n++
		w := sc.Text()
		if i := strings.IndexByte(w, '#'); i >= 0 {
			w = w[:i]
		}
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		if !validLabels(w) {
			if bad == 0 {
				firstBad = fmt.Sprintf("%s:%d (%q)", name, n, w)
			}
			bad++
			continue
		}
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	if err := sc.Err(); err != nil {
		return words, bad, firstBad, fmt.Errorf("%s: line %d: %w", name, n+1, err)
	}
	return words, bad, firstBad, nil
}

// validLabels accepts a label or dotted labels ("dev", "eu.api"), short
// enough to go in front of a domain.
func validLabels(w string) bool {
	return len(w) <= 200 && !strings.HasSuffix(w, ".") && target.ValidHostname(w)
}

// Wildcard is what a zone answers for names that do not exist.
type Wildcard struct {
	Addrs []netip.Addr // sorted; empty: no wildcard
}

// Covers reports whether ips are only wildcard answers.
func (w Wildcard) Covers(ips []netip.Addr) bool {
	if len(w.Addrs) == 0 {
		return false
	}
	for _, ip := range ips {
		if _, ok := slices.BinarySearchFunc(w.Addrs, ip, netip.Addr.Compare); !ok {
			return false
		}
	}
	return true
}

// DetectWildcard asks for three random names under domain: a zone that
// answers them answers every name, and its answers mean nothing.
func (r *Resolver) DetectWildcard(ctx context.Context, domain string) (Wildcard, error) {
	var w Wildcard
	for range 3 {
		label := fmt.Sprintf("lh-%016x", rand.Uint64())
		ips, err := r.LookupNetIP(ctx, "ip", label+"."+domain)
		if errors.Is(err, ErrNoSuchHost) {
			continue
		}
		if err != nil {
			return w, fmt.Errorf("testing %s for wildcard DNS: %w", domain, err)
		}
		w.Addrs = append(w.Addrs, ips...)
	}
	slices.SortFunc(w.Addrs, netip.Addr.Compare)
	w.Addrs = slices.Compact(w.Addrs)
	return w, nil
}

// Brute looks up word.domain for every word, workers at a time, and calls
// found (from one goroutine at a time) with each name that resolves to
// something other than the zone's wildcard answers. Lookup failures other
// than "no such name" are counted in failed; the first is returned as err
// when every lookup failed, a sign the resolver is unusable.
func (r *Resolver) Brute(ctx context.Context, domain string, words iter.Seq[string], workers int, wc Wildcard, found func(name string, ips []netip.Addr)) (tried, failed int, err error) {
	names := make(chan string)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				ips, err := r.LookupNetIP(ctx, "ip", name)
				mu.Lock()
				tried++
				switch {
				case err == nil && !wc.Covers(ips):
					found(name, ips)
				case err != nil && !errors.Is(err, ErrNoSuchHost) && ctx.Err() == nil:
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	for w := range words {
		select {
		case names <- w + "." + domain:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(names)
	wg.Wait()
	if failed > 0 && failed == tried {
		return tried, failed, firstErr
	}
	return tried, failed, nil
}
