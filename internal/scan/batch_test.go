package scan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/sweep"
	"github.com/leakhound/leakhound/internal/target"
)

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("resolving %s: no such host", host)
}

// listenAt opens a listener on ip and returns its port. It accepts and
// closes, as an open port that is no datastore.
func listenAt(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func targets(t *testing.T, ss ...string) func(func(target.Target, error) bool) {
	return func(yield func(target.Target, error) bool) {
		for _, s := range ss {
			tg, err := target.Parse(s)
			tg.Where = s
			if !yield(tg, err) {
				return
			}
		}
	}
}

// run scans and returns every open endpoint reported, as "host ip:port".
func run(t *testing.T, cfg Config, ts ...string) ([]string, Summary) {
	t.Helper()
	var mu sync.Mutex
	var open []string
	cfg.OpenPort = func(e target.Endpoint) {
		mu.Lock()
		open = append(open, e.Host+" "+e.String())
		mu.Unlock()
	}
	cfg.ConnectTimeout, cfg.Timeout, cfg.Concurrency, cfg.PerHost = time.Second, time.Second, 16, 4
	var warns []error
	cfg.Warn = func(err error) { mu.Lock(); warns = append(warns, err); mu.Unlock() }
	sum, err := Run(context.Background(), cfg, targets(t, ts...), nil)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, w := range warns {
		t.Logf("warning: %v", w)
	}
	slices.Sort(open)
	return open, sum
}

func TestRunSweepsEachEndpointOnceUnderItsName(t *testing.T) {
	p1, p2 := listenAt(t, "127.0.20.1"), listenAt(t, "127.0.20.2")
	listenAt(t, "127.0.20.3") // excluded below
	cfg := Config{
		Ports:    []int{p1, p2},
		Resolver: fakeResolver{"db.test": {netip.MustParseAddr("127.0.20.1")}, "also.test": {netip.MustParseAddr("127.0.20.1")}},
		Exclude:  new(target.Exclusions),
		Seed:     1,
	}
	cfg.Exclude.Add("127.0.20.3")
	open, sum := run(t, cfg, "127.0.20.0/29", "127.0.20.1-2", "db.test", "also.test", fmt.Sprintf("127.0.20.1:%d", p1))
	want := []string{
		fmt.Sprintf("127.0.20.2 127.0.20.2:%d", p2),
		fmt.Sprintf("also.test 127.0.20.1:%d", p1), // names sort first; also.test < db.test
	}
	slices.Sort(want)
	if !slices.Equal(open, want) {
		t.Errorf("open = %q, want %q", open, want)
	}
	// .1-.6 on two ports; .3 excluded.
	if sum.Probed != 10 || sum.Excluded != 1 {
		t.Errorf("probed %d, excluded %d; want 10 and 1", sum.Probed, sum.Excluded)
	}
}

func TestRunInBatchesResumes(t *testing.T) {
	p := listenAt(t, "127.0.21.1")
	listenAt(t, "127.0.21.2")
	journal := filepath.Join(t.TempDir(), "resume.log")
	h := sweep.Header{Seed: 5, Shard: sweep.Shard{I: 1, N: 1}, Ports: fmt.Sprint(p), Exclude: "none"}
	j, err := sweep.OpenJournal(journal, h)
	if err != nil {
		t.Fatal(err)
	}
	// Batch 0 (127.0.21.1) was finished by an earlier run.
	first := targets(t, "127.0.21.1")
	var ts []target.Target
	for tg := range first {
		ts = append(ts, tg)
	}
	j.BeginBatch(0, digest(ts))
	j.End(0)
	cfg := Config{Ports: []int{p}, Seed: 5, Journal: j, BatchSize: 1}
	open, sum := run(t, cfg, "127.0.21.1", "127.0.21.2", "127.0.21.3")
	j.Close()
	// 127.0.21.2 listens on another port, so nothing is open in batches
	// 1 and 2; batch 0 was not swept again.
	if len(open) != 0 || sum.Probed != 2 {
		t.Errorf("open %q, probed %d; want none open and 2 probed (batch 0 skipped)", open, sum.Probed)
	}
	j, err = sweep.OpenJournal(journal, h)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for k := range 3 {
		if b := j.Batch(k); b == nil || !b.End {
			t.Errorf("batch %d = %+v, want ended", k, b)
		}
	}
	cfg.Journal = j
	if _, err := Run(context.Background(), cfg, targets(t, "127.0.21.9"), nil); err == nil {
		t.Errorf("Run with other targets on the same resume file = nil error, want one")
	}
}
