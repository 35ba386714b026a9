package sweep

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// silentPort returns a loopback endpoint that drops SYNs, as a firewall
// does: a listener with a backlog of 0 that never accepts, its one queue
// slot taken.
func silentPort(t *testing.T) string { return silentPortAt(t, [4]byte{127, 0, 12, 1}) }

func silentPortAt(t *testing.T, ip [4]byte) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(sa.(*unix.SockaddrInet4).Port)).String()
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr // the queue is full: SYNs are dropped from now on
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listener's accept queue on this kernel")
	return ""
}

func TestSweepRetriesTimeouts(t *testing.T) {
	addr := silentPort(t)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			var st Stats
			ch := make(chan []Job, 1)
			ch <- jobsFor([]string{addr})
			close(ch)
			var rs []Result
			Run(context.Background(), Config{Concurrency: 4, Timeout: 200 * time.Millisecond, Retries: 2, Portable: e.portable}, ch, func(r Result) { rs = append(rs, r) }, &st)
			if len(rs) != 1 || rs[0].Open || rs[0].Err != ErrTimeout {
				t.Fatalf("results %+v, want one: no answer", rs)
			}
			if st.Started.Load() != 3 || st.Retried.Load() != 2 {
				t.Errorf("started %d, retried %d, want 3 and 2", st.Started.Load(), st.Retried.Load())
			}
		})
	}
}

// Six ports of one host that never answer, two connects at a time to that
// host: three rounds of the timeout, however many connects are allowed in
// all.
func TestSweepKeepsThePerHostCap(t *testing.T) {
	var eps []string
	for range 6 {
		eps = append(eps, silentPortAt(t, [4]byte{127, 0, 15, 1}))
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			start := time.Now()
			got := sweepAll(t, Config{Concurrency: 64, PerHost: 2, Timeout: 300 * time.Millisecond, Portable: e.portable}, jobsFor(eps))
			if el := time.Since(start); el < 900*time.Millisecond {
				t.Errorf("6 silent ports of one host at --per-host 2 took %s, want at least 3 × 300ms", el)
			}
			for _, ep := range eps {
				if rs := got[ep]; len(rs) != 1 || rs[0].Err != ErrTimeout {
					t.Errorf("%s: %+v, want one result: no answer", ep, rs)
				}
			}
		})
	}
}
