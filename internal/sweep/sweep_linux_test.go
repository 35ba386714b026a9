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
func silentPort(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 12, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.12.1"), uint16(sa.(*unix.SockaddrInet4).Port)).String()
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
