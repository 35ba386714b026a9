// Package sweep finds open TCP ports by connecting, politely and fast: a
// global rate limit, a concurrency cap and a per-host cap, a deadline and
// retries on every connect, in a pseudo-random order spread across hosts
// that a seed reproduces, split into shards, and resumable.
package sweep

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/leakhound/leakhound/internal/target"
)

// Job is one endpoint to try: step Step of batch Batch of a scan.
type Job struct {
	Batch    int
	Step     uint64
	Endpoint target.Endpoint
}

// Result is what a connect found.
type Result struct {
	Job
	Open bool
	// Err says why a closed endpoint is closed when it is not a plain
	// refusal: a timeout after every retry, an unreachable network.
	Err error
}

// ErrTimeout is a Result's Err when no answer came after every retry.
var ErrTimeout = errors.New("no answer (filtered)")

// Config bounds a sweep.
type Config struct {
	Concurrency int           // connects in flight at once
	PerHost     int           // connects in flight to one address
	Rate        int           // connects started per second, retries included; 0: no limit
	Timeout     time.Duration // per connect
	Retries     int           // further tries of a connect that timed out
	// Portable uses Go's dialer instead of the Linux event loop; it is what
	// other systems get, and tests run both.
	Portable bool
}

// Stats counts a sweep's progress; safe to read while it runs.
type Stats struct {
	Started atomic.Uint64 // connects started, retries included
	Done    atomic.Uint64 // endpoints finished
	Open    atomic.Uint64
	Retried atomic.Uint64
}

// Run connects to every job from jobs (sent in batches: a hand-over per
// job would cost more than its connect) until the channel is closed or ctx
// is done, and calls report once per job, from several goroutines at once.
// A connect
// that fails for a local reason (no free port or file descriptor) is
// retried after a pause, never reported as closed.
func Run(ctx context.Context, cfg Config, jobs <-chan []Job, report func(Result), st *Stats) {
	if st == nil {
		st = new(Stats)
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	cfg.PerHost = max(cfg.PerHost, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Retries = max(cfg.Retries, 0)
	if cfg.Portable || !runFast(ctx, cfg, jobs, report, st) {
		runDialer(ctx, cfg, jobs, report, st)
	}
}

// limiter is a token bucket: rate tokens a second, bursts of a hundredth
// of a second's worth.
type limiter struct {
	rate   float64
	tokens float64
	burst  float64
	last   time.Time
}

func newLimiter(rate int) *limiter {
	if rate <= 0 {
		return nil
	}
	b := max(float64(rate)/100, 1)
	return &limiter{rate: float64(rate), tokens: 1, burst: b, last: time.Now()}
}

// take spends a token if there is one; otherwise it says how long until
// there is.
func (l *limiter) take(now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, 0
	}
	return false, time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
}
