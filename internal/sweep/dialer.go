package sweep

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// runDialer sweeps with one goroutine per connect in flight and Go's
// dialer: portable, and slower than the event loop.
func runDialer(ctx context.Context, cfg Config, batches <-chan []Job, report func(Result), st *Stats) {
	lim := newLimiter(cfg.Rate)
	var limMu sync.Mutex
	wait := func() bool {
		for {
			limMu.Lock()
			ok, d := lim.take(time.Now())
			limMu.Unlock()
			if ok {
				return true
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return false
			}
		}
	}
	sem := make(chan struct{}, cfg.Concurrency)
	var mu sync.Mutex
	busy := map[netip.Addr]int{}
	hostFree := sync.NewCond(&mu)
	results := make(chan Result, cfg.Concurrency)
	var reporter sync.WaitGroup
	reporter.Add(1)
	go func() {
		defer reporter.Done()
		for r := range results {
			report(r)
		}
	}()
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: cfg.Timeout}
	jobs := make(chan Job)
	go func() {
		defer close(jobs)
		for b := range batches {
			for _, j := range b {
				select {
				case jobs <- j:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for {
		var job Job
		var ok bool
		select {
		case job, ok = <-jobs:
		case <-ctx.Done():
		}
		if !ok || ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		ip := job.Endpoint.IP
		mu.Lock()
		for busy[ip] >= cfg.PerHost {
			hostFree.Wait()
		}
		busy[ip]++
		mu.Unlock()
		wg.Add(1)
		go func(job Job) {
			defer wg.Done()
			r := Result{Job: job}
			for try := 0; try <= cfg.Retries; try++ {
				if !wait() {
					break
				}
				st.Started.Add(1)
				if try > 0 {
					st.Retried.Add(1)
				}
				c, err := d.DialContext(ctx, "tcp", job.Endpoint.String())
				if err == nil {
					c.Close()
					r.Open, r.Err = true, nil
					break
				}
				r.Err = err
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					r.Err = ErrTimeout
					continue
				}
				var errno syscall.Errno
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					r.Err = nil
				case errors.As(err, &errno):
					r.Err = errno // what the system said, as the event loop reports it
				}
				break
			}
			mu.Lock()
			if busy[ip]--; busy[ip] == 0 {
				delete(busy, ip)
			}
			hostFree.Broadcast()
			mu.Unlock()
			<-sem
			if ctx.Err() != nil && !r.Open {
				return // cut short, not closed: a resumed scan tries it again
			}
			st.Done.Add(1)
			if r.Open {
				st.Open.Add(1)
			}
			results <- r
		}(job)
	}
	wg.Wait()
	close(results)
	reporter.Wait()
}
