package sweep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/target"
)

// engines are the two ways to sweep; every test runs both.
var engines = []struct {
	name     string
	portable bool
}{{"eventloop", false}, {"dialer", true}}

// listen opens n listeners on loopback addresses from base on, and returns
// their endpoints.
func listen(t testing.TB, base netip.Addr, n int) []string {
	t.Helper()
	var eps []string
	a := base
	for range n {
		l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			t.Fatalf("listen on %s: %v", a, err)
		}
		t.Cleanup(func() { l.Close() })
		go acceptAndClose(l)
		eps = append(eps, l.Addr().String())
		a = a.Next()
	}
	return eps
}

// acceptAndClose serves l as an open port that is no service.
func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// sweepAll sweeps jobs and returns every result, by endpoint.
func sweepAll(t testing.TB, cfg Config, jobs []Job) map[string][]Result {
	t.Helper()
	ch := make(chan []Job, 4)
	go func() {
		defer close(ch)
		for i := 0; i < len(jobs); i += 256 {
			ch <- jobs[i:min(i+256, len(jobs))]
		}
	}()
	var mu sync.Mutex
	got := map[string][]Result{}
	Run(context.Background(), cfg, ch, func(r Result) {
		mu.Lock()
		got[r.Endpoint.String()] = append(got[r.Endpoint.String()], r)
		mu.Unlock()
	}, nil)
	return got
}

func jobsFor(eps []string) []Job {
	var jobs []Job
	for i, s := range eps {
		ap := netip.MustParseAddrPort(s)
		jobs = append(jobs, Job{Step: uint64(i), Endpoint: target.Endpoint{Host: ap.Addr().String(), IP: ap.Addr(), Port: int(ap.Port())}})
	}
	return jobs
}

func TestSweepFindsOpenPortsAndReportsEachOnce(t *testing.T) {
	open := listen(t, netip.MustParseAddr("127.0.10.1"), 20)
	// The same ports on neighbouring addresses are closed.
	var eps []string
	eps = append(eps, open...)
	for _, s := range open {
		ap := netip.MustParseAddrPort(s)
		eps = append(eps, netip.AddrPortFrom(ap.Addr().Next().Next().Next(), ap.Port()).String())
		eps = append(eps, netip.AddrPortFrom(netip.MustParseAddr("127.0.11.1"), ap.Port()).String())
	}
	// Listeners on different addresses may share a port number.
	slices.Sort(eps)
	eps = slices.Compact(eps)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			got := sweepAll(t, Config{Concurrency: 16, PerHost: 2, Timeout: time.Second, Portable: e.portable}, jobsFor(eps))
			var gotOpen []string
			for _, ep := range eps {
				rs := got[ep]
				if len(rs) != 1 {
					t.Errorf("%s reported %d times, want once", ep, len(rs))
					continue
				}
				if rs[0].Open {
					gotOpen = append(gotOpen, ep)
				} else if rs[0].Err != nil {
					t.Errorf("%s closed with %v, want a plain refusal", ep, rs[0].Err)
				}
			}
			want := slices.Clone(open)
			sort.Strings(want)
			sort.Strings(gotOpen)
			// 20 listeners on .1-.20; each port is also tried 3 addresses on,
			// where only another listener (a different port) may be.
			if !slices.Equal(gotOpen, want) {
				t.Errorf("open = %v, want %v", gotOpen, want)
			}
		})
	}
}

func TestSweepIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	go acceptAndClose(l)
	open := l.Addr().String()
	closed := netip.AddrPortFrom(netip.MustParseAddr("::1"), uint16(l.Addr().(*net.TCPAddr).Port+1)).String()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			got := sweepAll(t, Config{Concurrency: 4, Timeout: time.Second, Portable: e.portable}, jobsFor([]string{open, closed}))
			if rs := got[open]; len(rs) != 1 || !rs[0].Open {
				t.Errorf("%s = %+v, want open", open, rs)
			}
			if rs := got[closed]; len(rs) != 1 || rs[0].Open {
				t.Errorf("%s = %+v, want closed", closed, rs)
			}
		})
	}
}

func TestSweepKeepsTheRate(t *testing.T) {
	var eps []string
	for i := range 60 {
		eps = append(eps, fmt.Sprintf("127.0.13.%d:9", i+1))
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			start := time.Now()
			got := sweepAll(t, Config{Concurrency: 64, Timeout: time.Second, Rate: 200, Portable: e.portable}, jobsFor(eps))
			// 60 connects at 200/s take at least 0.25 s whatever the machine
			// (a burst of 2, then one every 5 ms).
			if el := time.Since(start); el < 250*time.Millisecond {
				t.Errorf("60 connects at --rate 200 took %s, want at least 250ms", el)
			}
			if len(got) != 60 {
				t.Errorf("%d endpoints reported, want 60", len(got))
			}
		})
	}
}

func TestSweepStopsOnCancel(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ch := make(chan []Job)
			done := make(chan struct{})
			go func() {
				defer close(done)
				Run(ctx, Config{Concurrency: 8, Timeout: time.Second, Portable: e.portable}, ch, func(Result) {}, nil)
			}()
			ch <- jobsFor([]string{"127.0.14.1:9"})
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5s of the cancel")
			}
		})
	}
}

// BenchmarkSweep sweeps closed loopback ports, the bulk of any real sweep.
func BenchmarkSweep(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			var jobs []Job
			a := netip.MustParseAddr("127.1.0.1")
			for range 4096 {
				for _, p := range []int{8123, 9000, 8443, 9440} {
					jobs = append(jobs, Job{Endpoint: target.Endpoint{IP: a, Port: p}})
				}
				a = a.Next()
			}
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				sweepAll(b, Config{Concurrency: 512, PerHost: 8, Timeout: time.Second, Portable: e.portable}, jobs)
			}
			b.ReportMetric(float64(len(jobs)*b.N)/time.Since(start).Seconds(), "endpoints/s")
		})
	}
}

// A link-local address is reached through the interface its zone names:
// the zone must reach the connect (without it the kernel says EINVAL), and
// a connect that fails other than by a refusal or a timeout says why.
// Only loopback is touched: lo has no link-local route here, so the
// connect fails at once with no packet sent.
func TestSweepKeepsZones(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	go acceptAndClose(l)
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	zoned := netip.AddrPortFrom(netip.MustParseAddr("::1%lo"), port).String()
	linkLocal := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%lo"), port).String()
	noZone := netip.AddrPortFrom(netip.MustParseAddr("fe80::1"), port).String()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			got := sweepAll(t, Config{Concurrency: 4, Timeout: time.Second, Portable: e.portable}, jobsFor([]string{zoned, linkLocal, noZone}))
			if rs := got[zoned]; len(rs) != 1 || !rs[0].Open {
				t.Errorf("%s = %+v, want open", zoned, rs)
			}
			if rs := got[linkLocal]; len(rs) != 1 || errors.Is(rs[0].Err, syscall.EINVAL) {
				t.Errorf("%s = %+v, want its zone used in the connect (not EINVAL)", linkLocal, rs)
			}
			if rs := got[noZone]; len(rs) != 1 || rs[0].Open || rs[0].Err == nil {
				t.Errorf("%s = %+v, want closed with the connect's error, not as a plain refusal", noZone, rs)
			}
		})
	}
}
