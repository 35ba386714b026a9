//go:build linux

package clickhouse

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// The fixed memory bound a hostile case is held to, for the whole child
// process, test binary and fake servers included: a base, and for each
// server assessed at once its session's budget twice over, since Go's
// collector lets garbage grow as large as what is live before it runs.
// Before cells were budgeted, one server of empty strings took 2.2 GB and
// three took 4.9 GB; now a case of one server is bound to 192 MB, of three
// to 448 (and takes about 80 and 210).
const (
	hostileRSSBase      = 64 << 20
	hostileRSSPerServer = 2 * datastore.SessionMemory
)

func (c hostileCase) peakRSS() int64 {
	return hostileRSSBase + int64(max(c.servers, 1))*hostileRSSPerServer
}

// TestHostilePeakRSS runs every hostile case in a fresh child process and
// prints its peak RSS and time: the issue asks CI to show that every
// hostile server costs at most its timeout and a fixed memory budget.
func TestHostilePeakRSS(t *testing.T) {
	if os.Getenv(hostileCaseEnv) != "" {
		t.Skip("inside a child")
	}
	if testing.Short() {
		t.Skip("runs a child process per case")
	}
	names := make([]string, 0, len(hostileCases))
	for name := range hostileCases {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := hostileCases[name]
		t.Run(name, func(t *testing.T) {
			// A child that hangs is killed well after the bound it would fail.
			ctx, cancel := context.WithTimeout(context.Background(), 10*c.budget+time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostileChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), hostileCaseEnv+"="+name)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			elapsed := time.Since(start)
			if cmd.ProcessState == nil {
				t.Fatalf("case %s: could not run the child: %v", name, err)
			}
			peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // kilobytes on Linux
			t.Logf("case %s: peak RSS %d MB, %.1f s", name, peak>>20, elapsed.Seconds())
			if err != nil {
				t.Errorf("case %s: the child failed (%v):\n%s", name, err, tail(out, 40))
			} else if testing.Verbose() {
				t.Logf("case %s:\n%s", name, tail(out, 20))
			}
			if bound := c.peakRSS(); peak > bound {
				t.Errorf("case %s: peak RSS %d MB, want at most %d MB (%d server(s) at once)", name, peak>>20, bound>>20, max(c.servers, 1))
			}
			// The bound on time is several times the case's budget, with
			// room for a loaded machine; it catches hangs and tarpits that
			// multiply, not slowness.
			if limit := 3*c.budget + 10*time.Second; elapsed > limit {
				t.Errorf("case %s: took %.1f s, want at most %.1f s (3× its budget of %v, plus start-up)", name, elapsed.Seconds(), limit.Seconds(), c.budget)
			}
		})
	}
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
