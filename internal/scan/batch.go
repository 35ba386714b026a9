package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/resolve"
	"github.com/leakhound/leakhound/internal/sweep"
	"github.com/leakhound/leakhound/internal/target"
)

// batch is one batch of targets being swept: its endpoints, the order they
// are visited in, and which are finished.
type batch struct {
	k          int
	space      *target.Space
	order      sweep.Order
	steps      uint64
	progress   *sweep.Progress
	dispatched bool   // every step has been handed to the sweep
	written    uint64 // the last mark written to the journal
	ended      bool
}

// expand reads the targets a batch at a time, lays each batch out, and
// hands its endpoints to the sweep in the batch's order, skipping what a
// resume file says is done.
func (s *scanner) expand(ctx context.Context, targets iter.Seq2[target.Target, error], jobs chan<- []sweep.Job) error {
	var pending []target.Target
	k := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := s.sweepBatch(ctx, k, pending, jobs)
		k++
		pending = pending[:0]
		return err
	}
	for t, err := range targets {
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.skip(err)
			continue
		}
		s.count(func(sm *Summary) { sm.Targets++ })
		pending = append(pending, t)
		if len(pending) == s.cfg.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// digest identifies a batch's targets, so a resumed scan can tell it was
// given the same ones.
func digest(ts []target.Target) string {
	h := sha256.New()
	for _, t := range ts {
		h.Write([]byte(strings.TrimSpace(t.Raw)))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (s *scanner) sweepBatch(ctx context.Context, k int, ts []target.Target, jobs chan<- []sweep.Job) error {
	j := s.cfg.Journal
	if err := j.BeginBatch(k, digest(ts)); err != nil {
		return err
	}
	state := j.Batch(k)
	if state != nil && state.End {
		return nil
	}
	b := target.NewBuilder(s.ports(), s.cfg.Exclude)
	var names []target.Target
	for _, t := range ts {
		if t.Host != "" {
			names = append(names, t)
			continue
		}
		if err := b.Add(t); err != nil {
			s.skip(fmt.Errorf("%s: %w", t.Where, err))
		}
	}
	resolved := s.resolveNames(ctx, k, names, state)
	if ctx.Err() != nil {
		return nil
	}
	// Names in a fixed order, so the same batch lays out the same way on
	// every run and every machine.
	hosts := make([]string, 0, len(resolved))
	for h := range resolved {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	portsOf := map[string][]int{}
	for _, t := range names {
		portsOf[t.Host] = append(portsOf[t.Host], t.Port)
	}
	for _, h := range hosts {
		ports, ok := portsOf[h]
		if !ok {
			ports = []int{0} // discovered: every port
		}
		slices.Sort(ports)
		for _, p := range slices.Compact(ports) {
			for _, ip := range resolved[h] {
				b.AddResolved(h, ip, p)
			}
		}
	}
	space := b.Build()
	s.count(func(sm *Summary) { sm.Excluded += b.Excluded() })

	bt := &batch{k: k, space: space, order: sweep.NewOrder(space.Len(), batchSeed(s.cfg.Seed, k))}
	bt.steps = s.cfg.Shard.Steps(space.Len())
	var mark uint64
	var done map[uint64]bool
	if state != nil {
		mark, done = state.Mark, state.Done
	}
	bt.progress = sweep.NewProgress(mark)
	bt.written = mark
	s.mu.Lock()
	s.batches[k] = bt
	s.mu.Unlock()
	pr := s.cfg.Progress
	pr.Total.Add(bt.steps)
	pr.Finished.Add(min(mark, bt.steps))
	s.count(func(sm *Summary) { sm.Resumed += min(mark, bt.steps) + uint64(len(done)) })
	const handOver = 512
	out := make([]sweep.Job, 0, handOver)
	send := func() bool {
		if len(out) == 0 {
			return true
		}
		select {
		case jobs <- out:
			out = make([]sweep.Job, 0, handOver)
			return true
		case <-ctx.Done():
			return false
		}
	}
	for step := mark; step < bt.steps; step++ {
		if done[step] {
			s.finish(sweep.Job{Batch: k, Step: step}, false)
			continue
		}
		ep, ok := space.At(bt.order.At(s.cfg.Shard.Step(step)))
		if !ok {
			s.finish(sweep.Job{Batch: k, Step: step}, false)
			continue
		}
		out = append(out, sweep.Job{Batch: k, Step: step, Endpoint: ep})
		if len(out) == handOver && !send() {
			return nil
		}
	}
	if !send() {
		return nil
	}
	s.mu.Lock()
	bt.dispatched = true
	s.mu.Unlock()
	s.maybeEnd(bt, bt.progress.Mark())
	return nil
}

func batchSeed(seed uint64, k int) uint64 { return seed ^ uint64(k)*0x9e3779b97f4a7c15 }

// finish records a step done. record says the step found something that
// was written out: the journal gets it at once, so a resumed scan does not
// report it again; plain closed ports wait for the next mark.
func (s *scanner) finish(j sweep.Job, record bool) { s.finishFound(j, record, nil) }

// finishFound is finish for a step that may have made a finding: the
// journal keeps its severity, so that a resumed scan's exit status counts
// what the earlier runs found.
func (s *scanner) finishFound(j sweep.Job, record bool, found *assess.Severity) {
	s.mu.Lock()
	bt := s.batches[j.Batch]
	s.mu.Unlock()
	if bt == nil {
		return
	}
	if record {
		severity := ""
		if found != nil {
			severity = found.String()
		}
		if err := s.cfg.Journal.Done(j.Batch, j.Step, severity); err != nil {
			s.warn(err)
		}
	}
	mark := bt.progress.Finish(j.Step)
	s.cfg.Progress.Finished.Add(1)
	s.maybeEnd(bt, mark)
}

// maybeEnd writes a finished batch's end to the journal, once; mark is
// the batch's mark as its caller last saw it.
func (s *scanner) maybeEnd(bt *batch, mark uint64) {
	s.mu.Lock()
	end := bt.dispatched && !bt.ended && mark >= bt.steps
	if end {
		bt.ended = true
		delete(s.batches, bt.k)
	}
	s.mu.Unlock()
	if end {
		if err := s.cfg.Journal.End(bt.k); err != nil {
			s.warn(err)
		}
	}
}

// writeMarks writes each batch's mark to the journal a few times a second
// while the scan runs, and once more when it stops.
func (s *scanner) writeMarks() (stop func()) {
	if s.cfg.Journal == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	write := func() {
		s.mu.Lock()
		var bs []*batch
		for _, bt := range s.batches {
			bs = append(bs, bt)
		}
		s.mu.Unlock()
		for _, bt := range bs {
			if m := bt.progress.Mark(); m > bt.written {
				if err := s.cfg.Journal.Mark(bt.k, m); err != nil {
					s.warn(err)
					continue
				}
				bt.written = m
			}
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				write()
			case <-quit:
				write()
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// resolveNames resolves the batch's names, and discovers the subdomains of
// its bare domains; a resumed batch uses the names its journal recorded.
func (s *scanner) resolveNames(ctx context.Context, k int, names []target.Target, state *sweep.BatchState) map[string][]netip.Addr {
	if state != nil && state.Named {
		s.count(func(sm *Summary) { sm.Names += len(state.Names) })
		return state.Names
	}
	out := map[string][]netip.Addr{}
	var mu sync.Mutex
	add := func(host string, ips []netip.Addr) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := out[host]; ok {
			return
		}
		ips = slices.Clone(ips)
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		slices.SortFunc(ips, netip.Addr.Compare)
		out[host] = slices.Compact(ips)
	}
	var uniq []string
	seen := map[string]bool{}
	var domains []string
	for _, t := range names {
		if s.cfg.Exclude.Host(t.Host) {
			s.count(func(sm *Summary) { sm.Excluded++ })
			continue
		}
		if !seen[t.Host] {
			seen[t.Host] = true
			uniq = append(uniq, t.Host)
		}
		if t.Name() && strings.Contains(t.Host, ".") && !slices.Contains(domains, t.Host) {
			domains = append(domains, t.Host)
		}
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range max(min(s.cfg.DNSWorkers, len(uniq)), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				ips, err := s.cfg.Resolver.LookupNetIP(ctx, "ip", h)
				if err != nil {
					if ctx.Err() == nil {
						s.warn(err)
					}
					continue
				}
				add(h, ips)
			}
		}()
	}
	for _, h := range uniq {
		select {
		case work <- h:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if s.cfg.Brute != nil {
		for _, d := range domains {
			s.discover(ctx, d, add)
		}
	}
	s.count(func(sm *Summary) { sm.Names += len(out) })
	if ctx.Err() != nil {
		return out
	}
	j := s.cfg.Journal
	hosts := make([]string, 0, len(out))
	for h := range out {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		if err := j.Name(k, h, out[h]); err != nil {
			s.warn(err)
		}
	}
	if err := j.Named(k); err != nil {
		s.warn(err)
	}
	return out
}

// discover brute-forces the subdomains of domain.
func (s *scanner) discover(ctx context.Context, domain string, add func(string, []netip.Addr)) {
	r := s.cfg.Brute
	wc, err := r.DetectWildcard(ctx, domain)
	if err != nil {
		if ctx.Err() == nil {
			s.warn(fmt.Errorf("%s: subdomains not searched: %w", domain, err))
		}
		return
	}
	if len(wc.Addrs) > 0 {
		s.cfg.Note(fmt.Sprintf("%s: wildcard DNS (any name answers %s); names answering only that are skipped", domain, joinAddrs(wc.Addrs)))
	}
	words := resolve.Builtin()
	if s.cfg.Words != nil {
		words = slices.Values(s.cfg.Words)
	}
	var found []string
	tried, failed, err := r.Brute(ctx, domain, words, max(s.cfg.DNSWorkers, 1), wc, func(name string, ips []netip.Addr) {
		if s.cfg.Exclude.Host(name) {
			s.count(func(sm *Summary) { sm.Excluded++ })
			return
		}
		found = append(found, name)
		add(name, ips)
	})
	if err != nil {
		if ctx.Err() == nil {
			s.warn(fmt.Errorf("%s: subdomain search failed: %w", domain, err))
		}
		return
	}
	s.count(func(sm *Summary) { sm.Discovered += len(found) })
	noun := "subdomains"
	if len(found) == 1 {
		noun = "subdomain"
	}
	msg := fmt.Sprintf("%s: %d %s found of %d names tried", domain, len(found), noun, tried)
	if failed > 0 {
		msg += fmt.Sprintf(" (%d lookups failed)", failed)
	}
	if len(found) > 0 {
		slices.Sort(found)
		msg += ": " + strings.Join(found, ", ")
	}
	s.cfg.Note(msg)
}

func joinAddrs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}
