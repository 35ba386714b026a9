package scan

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/sweep"
)

// The fake datastore: what it does on a port is set per endpoint by a test.
type fakeMode int

const (
	fakeAbsent   fakeMode = iota // not this datastore
	fakeTarpit                   // accepts, then says nothing: the first look finds it Silent
	fakeHang                     // answers the first look, then lets a probe's deadline pass
	fakeOpen                     // open to anyone; its session holds one table
	fakeOpenFail                 // answers the probe, but no session can be opened
)

var fake = struct {
	sync.Mutex
	modes                 map[string]fakeMode // by ip:port
	probes, maxProbes     int                 // probes of open ports in flight
	sessions, maxSessions int
	tarpitTimeouts        []time.Duration // deadline given to each look at a tarpit or probe of a hanging port
	laterDrivers          int             // probes of a tarpit or hanging port by a driver after the first
}{modes: map[string]fakeMode{}}

func setFake(t *testing.T, ep string, m fakeMode) {
	fake.Lock()
	fake.modes[ep] = m
	fake.Unlock()
	t.Cleanup(func() { fake.Lock(); delete(fake.modes, ep); fake.Unlock() })
}

func resetFake() {
	fake.Lock()
	fake.probes, fake.maxProbes, fake.sessions, fake.maxSessions = 0, 0, 0, 0
	fake.tarpitTimeouts, fake.laterDrivers = nil, 0
	fake.Unlock()
}

// fakeDriver "a-fake" speaks the fake datastore; "b-fake" never does, and
// counts the tarpits it is asked to probe.
type fakeDriver struct{ name string }

func init() {
	datastore.Register(fakeDriver{"a-fake"})
	datastore.Register(fakeDriver{"b-fake"})
}

func (d fakeDriver) Name() string                 { return d.name }
func (fakeDriver) DefaultPorts() []datastore.Port { return nil }
func (fakeDriver) Schemes() []datastore.Scheme    { return nil }

// fakeLook is the first look of the fake datastore's ports: a tarpit is
// Silent once the deadline passed; every other port looks like nothing
// in particular.
func fakeLook(ctx context.Context, ep datastore.Endpoint, timeout time.Duration) datastore.FirstLook {
	fake.Lock()
	mode := fake.modes[ep.Addr()]
	if mode != fakeTarpit {
		fake.Unlock()
		return datastore.FirstLook{Reply: []byte("?")}
	}
	fake.tarpitTimeouts = append(fake.tarpitTimeouts, timeout)
	fake.Unlock()
	select {
	case <-time.After(timeout):
	case <-ctx.Done():
	}
	return datastore.FirstLook{Silent: true}
}

func (d fakeDriver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	fake.Lock()
	mode := fake.modes[ep.Addr()]
	if look.Silent || mode == fakeTarpit {
		fake.laterDrivers++ // the scanner never probes a Silent port
		fake.Unlock()
		return nil, nil
	}
	if d.name == "b-fake" {
		if mode == fakeHang {
			fake.laterDrivers++
		}
		fake.Unlock()
		return nil, nil
	}
	switch mode {
	case fakeHang:
		fake.tarpitTimeouts = append(fake.tarpitTimeouts, timeout)
		fake.Unlock()
		select {
		case <-time.After(timeout):
		case <-ctx.Done():
		}
		return nil, fmt.Errorf("no answer: %w", os.ErrDeadlineExceeded)
	case fakeOpen, fakeOpenFail:
		fake.probes++
		fake.maxProbes = max(fake.maxProbes, fake.probes)
		fake.Unlock()
		time.Sleep(20 * time.Millisecond)
		fake.Lock()
		fake.probes--
		fake.Unlock()
		return &datastore.Service{Endpoint: ep, Engine: "fake", Protocol: "fake", Auth: datastore.AuthNone}, nil
	}
	fake.Unlock()
	return nil, nil
}

func (fakeDriver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	fake.Lock()
	defer fake.Unlock()
	if fake.modes[svc.Endpoint.Addr()] == fakeOpenFail {
		return nil, fmt.Errorf("%s: fake: the session broke", svc.Endpoint)
	}
	fake.sessions++
	fake.maxSessions = max(fake.maxSessions, fake.sessions)
	return &fakeSession{ep: svc.Endpoint.Addr()}, nil
}

type fakeSession struct{ ep string }

func (s *fakeSession) ServerID(context.Context) (datastore.ServerID, error) {
	return datastore.ServerID{Engine: "fake", Key: s.ep}, nil
}
func (s *fakeSession) Privileges(context.Context) (datastore.Privileges, error) {
	return datastore.Privileges{}, nil
}
func (s *fakeSession) Pushdown() datastore.Pushdown { return datastore.Pushdown{} }
func (s *fakeSession) Inventory(context.Context) (datastore.Inventory, error) {
	time.Sleep(20 * time.Millisecond) // hold the session a while, as a real inventory would
	return datastore.Inventory{Databases: []datastore.Database{{Name: "d", TableCount: 1, Tables: []datastore.Table{
		{Name: "t", Engine: "fake", Rows: 10, RowsExact: true, Bytes: 100}}}}}, nil
}
func (s *fakeSession) Sample(context.Context, datastore.Table, datastore.Limits) (datastore.Rows, error) {
	return datastore.Rows{}, nil
}
func (s *fakeSession) Remediation(datastore.Privileges) []string { return nil }
func (s *fakeSession) Close() error {
	fake.Lock()
	fake.sessions--
	fake.Unlock()
	return nil
}

// tarpitAt listens on ip, accepts and holds every connection silent.
func tarpitAt(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// fakeScan runs a scan of the endpoints eps and returns its summary, the
// findings, and what it warned and noted.
func fakeScan(t *testing.T, cfg Config, eps ...string) (Summary, []*assess.Finding, []string, []string) {
	t.Helper()
	var mu sync.Mutex
	var findings []*assess.Finding
	var warns, notes []string
	cfg.Warn = func(err error) { mu.Lock(); warns = append(warns, err.Error()); mu.Unlock() }
	cfg.Note = func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	cfg.Concurrency, cfg.PerHost, cfg.ServiceBudget = 64, 64, time.Minute
	if cfg.look == nil {
		cfg.look = fakeLook
	}
	sum, err := Run(context.Background(), cfg, targets(t, eps...), func(f *assess.Finding) { findings = append(findings, f) })
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	return sum, findings, warns, notes
}

// Assessments run --assess-concurrency at a time, and sessions at most
// --max-memory / SessionMemory at a time, whatever --concurrency says.
func TestRunCapsAssessmentsAndSessions(t *testing.T) {
	resetFake()
	var eps []string
	for h := 1; h <= 4; h++ {
		ip := fmt.Sprintf("127.0.24.%d", h)
		for range 6 {
			ep := fmt.Sprintf("%s:%d", ip, listenAt(t, ip))
			setFake(t, ep, fakeOpen)
			eps = append(eps, ep)
		}
	}
	sum, findings, warns, _ := fakeScan(t, Config{AssessConcurrency: 5, MaxMemory: 2*datastore.SessionMemory + 1}, eps...)
	if len(findings) != len(eps) || sum.Errors != 0 {
		t.Fatalf("%d findings, %d errors (%q); want %d findings, no error", len(findings), sum.Errors, warns, len(eps))
	}
	fake.Lock()
	defer fake.Unlock()
	if fake.maxProbes > 5 || fake.maxSessions > 2 || fake.sessions != 0 {
		t.Errorf("at most %d probes and %d sessions at once, %d left open; want at most 5 and 2 (--assess-concurrency 5, --max-memory 2 sessions), none left", fake.maxProbes, fake.maxSessions, fake.sessions)
	}
}

// A host that accepts and then says nothing costs a look's deadline on two
// ports, then a connect deadline on each other port; no driver probes a
// silent port; and each port's error is told and counted once.
func TestRunTarpitCostsLessOnItsLaterPorts(t *testing.T) {
	for _, mode := range []fakeMode{fakeTarpit, fakeHang} {
		name := map[fakeMode]string{fakeTarpit: "silent to the look", fakeHang: "silent to a probe"}[mode]
		t.Run(name, func(t *testing.T) {
			resetFake()
			var eps []string
			for range 6 {
				ep := fmt.Sprintf("127.0.25.1:%d", tarpitAt(t, "127.0.25.1"))
				setFake(t, ep, mode)
				eps = append(eps, ep)
			}
			sum, _, warns, notes := fakeScan(t, Config{AssessConcurrency: 1, Timeout: time.Second, ConnectTimeout: 50 * time.Millisecond}, eps...)
			fake.Lock()
			defer fake.Unlock()
			long := 0
			for _, d := range fake.tarpitTimeouts {
				if d == time.Second {
					long++
				} else if d != 50*time.Millisecond {
					t.Errorf("a look or probe of the tarpit had a deadline of %s, want 1s or 50ms", d)
				}
			}
			if len(fake.tarpitTimeouts) != 6 || long != tarpitPorts {
				t.Errorf("6 tarpit ports waited with deadlines %v, want 1s on the first %d only", fake.tarpitTimeouts, tarpitPorts)
			}
			if fake.laterDrivers != 0 {
				t.Errorf("a driver probed a tarpit %d times after the look or another driver found it silent, want 0", fake.laterDrivers)
			}
			if len(notes) != 1 || !strings.Contains(notes[0], "127.0.25.1") || !strings.Contains(notes[0], "50ms") {
				t.Errorf("notes = %q, want one naming 127.0.25.1 and the shorter deadline", notes)
			}
			if len(warns) != 6 || sum.Errors != 6 {
				t.Errorf("%d warnings, summary says %d errors; want 6 and 6:\n%s", len(warns), sum.Errors, strings.Join(warns, "\n"))
			}
		})
	}
}

// With the real first look, a port that accepts and says nothing is probed
// by no driver, and counts toward its host's tarpit deadline.
func TestRunSilentLookProbesNoDriver(t *testing.T) {
	resetFake()
	var eps []string
	for range 3 {
		ep := fmt.Sprintf("127.0.25.2:%d", tarpitAt(t, "127.0.25.2"))
		setFake(t, ep, fakeTarpit)
		eps = append(eps, ep)
	}
	sum, _, warns, notes := fakeScan(t, Config{AssessConcurrency: 1, Timeout: time.Second, ConnectTimeout: 200 * time.Millisecond, look: datastore.Look}, eps...)
	fake.Lock()
	defer fake.Unlock()
	if fake.laterDrivers != 0 {
		t.Errorf("drivers probed silent ports %d times, want 0", fake.laterDrivers)
	}
	if len(warns) != 3 || sum.Errors != 3 || !strings.Contains(warns[0], "said nothing") {
		t.Errorf("warnings %q, %d errors; want 3 saying the port said nothing", warns, sum.Errors)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "127.0.25.2") {
		t.Errorf("notes = %q, want one naming 127.0.25.2's shorter deadline", notes)
	}
}

// An error told during an assessment is counted in the summary, and a
// service not fully assessed makes the exit status 2.
func TestRunCountsAssessmentErrors(t *testing.T) {
	resetFake()
	ep := fmt.Sprintf("127.0.26.1:%d", listenAt(t, "127.0.26.1"))
	setFake(t, ep, fakeOpenFail)
	sum, findings, warns, _ := fakeScan(t, Config{}, ep)
	if len(findings) != 1 || len(warns) != 1 || sum.Errors != 1 || sum.Incomplete != 1 {
		t.Fatalf("%d findings, warnings %q, summary %+v; want 1 finding, 1 warning, 1 error, 1 incomplete", len(findings), warns, sum)
	}
	if got := sum.Exit(assess.Critical, false); got != ExitError {
		t.Errorf("Exit = %d, want %d", got, ExitError)
	}
}

// A resumed scan that finds nothing new still exits 1 when an earlier run
// found something at or above --fail-on.
func TestRunResumedExitReflectsEarlierFindings(t *testing.T) {
	resetFake()
	p := listenAt(t, "127.0.27.1")
	ep := fmt.Sprintf("127.0.27.1:%d", p)
	setFake(t, ep, fakeOpen)
	journal := filepath.Join(t.TempDir(), "resume.log")
	h := sweep.Header{Seed: 5, Shard: sweep.Shard{I: 1, N: 1}, Ports: fmt.Sprint(p), Exclude: "none"}
	open := func() *sweep.Journal {
		j, err := sweep.OpenJournal(journal, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return j
	}
	sum, findings, _, _ := fakeScan(t, Config{Ports: []int{p}, Seed: 5, Journal: open()}, "127.0.27.1")
	if len(findings) != 1 {
		t.Fatalf("first run: %d findings, want 1", len(findings))
	}
	failOn := findings[0].Severity
	if got := sum.Exit(failOn, false); got != ExitFindings {
		t.Fatalf("first run: Exit = %d, want %d", got, ExitFindings)
	}
	sum, findings, _, _ = fakeScan(t, Config{Ports: []int{p}, Seed: 5, Journal: open()}, "127.0.27.1")
	if len(findings) != 0 || sum.Earlier != 1 || sum.Highest != failOn {
		t.Errorf("resumed run: %d findings, %d earlier, highest %s; want 0, 1, %s", len(findings), sum.Earlier, sum.Highest, failOn)
	}
	if got := sum.Exit(failOn, false); got != ExitFindings {
		t.Errorf("resumed run: Exit = %d, want %d: --fail-on %s must count what earlier runs found", got, ExitFindings, failOn)
	}
}

// Targets that cannot be read or parsed are skipped, told, counted, and
// make the exit status 2.
func TestRunCountsSkippedTargets(t *testing.T) {
	sum, _, warns, _ := fakeScan(t, Config{Ports: []int{1}}, "127.0.28.1", "bad host!", "127.0.0.0/8-")
	if sum.Skipped != 2 || sum.Errors != 2 || len(warns) != 2 || sum.Targets != 1 {
		t.Errorf("summary %+v, warnings %q; want 2 skipped, 2 errors, 1 target", sum, warns)
	}
	if got := sum.Exit(assess.Info, false); got != ExitError {
		t.Errorf("Exit = %d, want %d when a target was skipped", got, ExitError)
	}
}

func TestSummaryExit(t *testing.T) {
	for _, tt := range []struct {
		name        string
		s           Summary
		interrupted bool
		want        int
	}{
		{"clean", Summary{Targets: 1}, false, ExitClean},
		{"below fail-on", Summary{Targets: 1, Findings: 1, Highest: assess.Medium}, false, ExitClean},
		{"at fail-on", Summary{Targets: 1, Findings: 1, Highest: assess.High}, false, ExitFindings},
		{"earlier run at fail-on", Summary{Targets: 1, Earlier: 1, Highest: assess.Critical}, false, ExitFindings},
		{"findings beat errors", Summary{Targets: 1, Findings: 1, Highest: assess.High, Skipped: 1}, true, ExitFindings},
		{"skipped", Summary{Targets: 1, Skipped: 1, Errors: 1}, false, ExitError},
		{"incomplete", Summary{Targets: 1, Findings: 1, Incomplete: 1}, false, ExitError},
		{"nothing scanned", Summary{Errors: 1}, false, ExitError},
		{"endpoint errors only", Summary{Targets: 1, Errors: 3}, false, ExitClean},
		{"interrupted", Summary{Targets: 1}, true, ExitError},
	} {
		if got := tt.s.Exit(assess.High, tt.interrupted); got != tt.want {
			t.Errorf("%s: Exit(high) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// A link-local address keeps its zone to the connect, and a connect that
// fails other than by a refusal or timeout is told, naming the endpoint,
// and counted. lo has no link-local route here: the connect fails at once
// (network unreachable), no packet sent; without its zone it failed with
// EINVAL, unreported, and the endpoint was counted closed.
func TestRunTellsConnectErrors(t *testing.T) {
	for _, portable := range []bool{false, true} {
		sum, _, warns, _ := fakeScan(t, Config{Ports: []int{9}, Portable: portable}, "fe80::1%lo")
		if len(warns) != 1 || !strings.Contains(warns[0], "[fe80::1%lo]:9: connect:") || strings.Contains(warns[0], "invalid argument") || sum.Errors != 1 {
			t.Errorf("portable %v: warnings %q, %d errors; want one naming [fe80::1%%lo]:9 and its connect error (not EINVAL), counted", portable, warns, sum.Errors)
		}
	}
}

// A finding on a link-local IPv6 address keeps its zone: the address alone
// reaches nothing.
func TestFindingIPKeepsZone(t *testing.T) {
	ep := datastore.Endpoint{IP: net.ParseIP("fe80::1"), Zone: "eth0", Port: 5432}
	if got := findingIP(ep); got != "fe80::1%eth0" {
		t.Errorf("findingIP(%v) = %q, want fe80::1%%eth0", ep, got)
	}
	if got := findingIP(datastore.Endpoint{IP: net.ParseIP("127.0.0.2")}); got != "127.0.0.2" {
		t.Errorf("findingIP(127.0.0.2) = %q", got)
	}
}

// An interrupt that cuts an open port's look short leaves it undone in the
// resume file: the resumed scan probes it, and finds what is there.
func TestRunInterruptedPortIsProbedOnResume(t *testing.T) {
	resetFake()
	p := listenAt(t, "127.0.29.1")
	setFake(t, fmt.Sprintf("127.0.29.1:%d", p), fakeOpen)
	journal := filepath.Join(t.TempDir(), "resume.log")
	h := sweep.Header{Seed: 5, Shard: sweep.Shard{I: 1, N: 1}, Ports: fmt.Sprint(p), Exclude: "none"}
	open := func() *sweep.Journal {
		j, err := sweep.OpenJournal(journal, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return j
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Ports: []int{p}, Seed: 5, Journal: open(), ConnectTimeout: time.Second, Timeout: time.Second,
		Concurrency: 64, PerHost: 64, ServiceBudget: time.Minute,
		look: func(ctx context.Context, ep datastore.Endpoint, timeout time.Duration) datastore.FirstLook {
			cancel() // ^C while the port is being looked at
			return datastore.FirstLook{Err: context.Canceled}
		}}
	var first []*assess.Finding
	if _, err := Run(ctx, cfg, targets(t, "127.0.29.1"), func(f *assess.Finding) { first = append(first, f) }); err != nil {
		t.Fatalf("interrupted Run = %v", err)
	}
	if len(first) != 0 {
		t.Fatalf("interrupted run: %d findings, want none", len(first))
	}
	sum, findings, _, _ := fakeScan(t, Config{Ports: []int{p}, Seed: 5, Journal: open()}, "127.0.29.1")
	if len(findings) != 1 || sum.Resumed != 0 {
		t.Errorf("resumed run: %d findings, %d endpoints resumed as done; want the interrupted port probed again and found", len(findings), sum.Resumed)
	}
}
