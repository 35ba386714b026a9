// Package scan runs the pipeline of DESIGN.md: targets are expanded and
// swept, open ports probed by every driver, proven services assessed once
// per server, and each finding handed on as soon as it is made.
package scan

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/resolve"
	"github.com/leakhound/leakhound/internal/sweep"
	"github.com/leakhound/leakhound/internal/target"
)

// Config is everything a scan needs besides its targets.
type Config struct {
	Ports          []int // nil: every registered driver's default ports
	ConnectTimeout time.Duration
	Timeout        time.Duration // per probe and per query
	ServiceBudget  time.Duration // all the work on one server
	Concurrency    int
	PerHost        int
	Rate           int
	Retries        int  // further tries of a connect that timed out
	Portable       bool // sweep with Go's dialer, not the Linux event loop
	NoSample       bool
	Sample         datastore.Limits // Rows per keyword, Random rows, Bytes in all
	Engine         *classify.Engine

	// AssessConcurrency is how many open ports are probed and assessed at
	// once; default 32.
	AssessConcurrency int
	// MaxMemory bounds what the sessions open at once may hold: at most
	// MaxMemory / datastore.SessionMemory of them (at least one); default
	// 1 GiB.
	MaxMemory int64

	Seed    uint64             // of the sweep order
	Shard   sweep.Shard        // the slice of every batch this machine sweeps
	Exclude *target.Exclusions // never swept, never resolved into the scan
	Journal *sweep.Journal     // nil: not resumable
	// BatchSize is how many targets are laid out and ordered together;
	// default 65536. Order, shards and dedupe work within a batch.
	BatchSize int

	// Resolver resolves names; Brute, if not nil, also discovers the
	// subdomains of every bare domain named, trying Words (nil: the
	// built-in list) DNSWorkers at a time.
	Resolver   Resolver
	Brute      *resolve.Resolver
	Words      []string
	DNSWorkers int

	// Warn receives every per-target and per-endpoint error; the scan goes on.
	Warn func(error)
	// Note receives what a user would want to know that is not an error:
	// wildcard zones, names discovered.
	Note func(string)
	// OpenPort, if not nil, is told of every open endpoint as it is found,
	// datastore or not.
	OpenPort func(target.Endpoint)
	// Progress, if not nil, is kept up to date for a progress display.
	Progress *Progress

	// look takes the first look at an open port; nil: datastore.Look.
	// Tests set it to tell a driver what a port looked like.
	look func(ctx context.Context, ep datastore.Endpoint, timeout time.Duration) datastore.FirstLook
}

// Resolver looks up hostnames; *net.Resolver and *resolve.Resolver satisfy it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Progress counts a running scan; every field may be read while it runs.
type Progress struct {
	Sweep    sweep.Stats
	Total    atomic.Uint64 // endpoints of the batches laid out so far (this shard's)
	Finished atomic.Uint64 // endpoints done, skipped on resume included
	Findings atomic.Uint64
}

// Summary counts what a scan did.
type Summary struct {
	Targets    int
	Names      int // names resolved, discovered ones included
	Discovered int // subdomains found by brute force
	Excluded   uint64
	Probed     uint64 // endpoints swept by this run
	Resumed    uint64 // endpoints a resume file said were done
	Open       int
	Findings   int             // found by this run
	Earlier    int             // found by the earlier runs of a resumed scan, per its resume file
	Skipped    int             // targets named that could not be read or parsed, so not scanned
	Errors     int             // errors reported through Warn, each once; Skipped ones included
	Incomplete int             // services found but not fully assessed
	Highest    assess.Severity // of every finding, the earlier runs' included
}

// Exit statuses of a scan (README, "Exit status").
const (
	ExitClean    = 0
	ExitFindings = 1
	ExitError    = 2
)

// Exit is the exit status of a scan that ended with s. A finding at or
// above failOn, of this run or of the earlier runs of a resumed scan, is
// ExitFindings; otherwise anything left undone (a target skipped, a service
// not fully assessed, nothing scanned but errors, an interrupted scan) is
// ExitError.
func (s Summary) Exit(failOn assess.Severity, interrupted bool) int {
	switch {
	case s.Findings+s.Earlier > 0 && s.Highest >= failOn:
		return ExitFindings
	case s.Skipped > 0 || s.Incomplete > 0 || (s.Targets == 0 && s.Errors > 0) || interrupted:
		return ExitError
	}
	return ExitClean
}

// Run scans targets and calls emit with each finding, from one goroutine at
// a time. It returns when every target is done or ctx is cancelled; what was
// found before a cancel has been emitted. The error is one that stopped the
// scan as a whole (a resume file that does not match).
func Run(ctx context.Context, cfg Config, targets iter.Seq2[target.Target, error], emit func(*assess.Finding)) (Summary, error) {
	if !cfg.NoSample && cfg.Engine != nil && !cfg.Engine.Keyed() {
		// Detections are told apart, and reported, by their fingerprints.
		return Summary{}, errors.New("scan: the classify engine has no fingerprint key (use Engine.WithKey)")
	}
	s := &scanner{cfg: cfg, emit: emit, servers: map[string][]*serverResult{}, batches: map[int]*batch{}, silent: map[netip.Addr]int{}}
	if s.cfg.Warn == nil {
		s.cfg.Warn = func(error) {}
	}
	// Every error a user is told of is counted once, whichever stage saw it.
	warn := s.cfg.Warn
	s.cfg.Warn = func(err error) {
		s.errors.Add(1)
		warn(err)
	}
	if s.cfg.AssessConcurrency <= 0 {
		s.cfg.AssessConcurrency = 32
	}
	if s.cfg.MaxMemory <= 0 {
		s.cfg.MaxMemory = 1 << 30
	}
	s.sessions = make(chan struct{}, max(1, s.cfg.MaxMemory/datastore.SessionMemory))
	if s.cfg.Note == nil {
		s.cfg.Note = func(string) {}
	}
	if j := s.cfg.Journal; j != nil {
		for name, n := range j.Found() {
			sev, err := assess.ParseSeverity(name)
			if err != nil {
				return Summary{}, fmt.Errorf("resume file: %w", err)
			}
			s.summary.Earlier += n
			s.summary.Highest = max(s.summary.Highest, sev)
		}
		if j.Legacy {
			s.cfg.Note("the resume file was begun by an older leakhound, which did not record what its runs found: the exit status counts findings from this run on")
		}
	}
	if s.cfg.Progress == nil {
		s.cfg.Progress = new(Progress)
	}
	if s.cfg.BatchSize <= 0 {
		s.cfg.BatchSize = 65536
	}
	if s.cfg.Resolver == nil {
		s.cfg.Resolver = net.DefaultResolver
	}
	if s.cfg.look == nil {
		s.cfg.look = datastore.Look
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan []sweep.Job, 8)
	open := make(chan sweep.Job, 64)
	var fatal error
	go func() {
		defer close(jobs)
		if err := s.expand(ctx, targets, jobs); err != nil {
			fatal = err
			cancel()
		}
	}()
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		defer close(open)
		sweep.Run(ctx, sweep.Config{
			Concurrency: cfg.Concurrency, PerHost: cfg.PerHost, Rate: cfg.Rate,
			Timeout: cfg.ConnectTimeout, Retries: cfg.Retries, Portable: cfg.Portable,
		}, jobs, func(r sweep.Result) {
			if r.Open {
				open <- r.Job
				return
			}
			if r.Err != nil && !errors.Is(r.Err, sweep.ErrTimeout) {
				s.connectError(r)
			}
			s.finish(r.Job, false)
		}, &s.cfg.Progress.Sweep)
	}()
	stopMarks := s.writeMarks()
	var wg sync.WaitGroup
	for range s.cfg.AssessConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range open {
				s.count(func(sm *Summary) { sm.Open++ })
				if cfg.OpenPort != nil {
					cfg.OpenPort(j.Endpoint)
				}
				switch found := s.endpoint(ctx, j.Endpoint); {
				case found != nil:
					// Written out, even if cut short: recorded, so that a
					// resumed scan neither repeats it nor forgets its
					// severity.
					s.finishFound(j, true, found)
				case ctx.Err() == nil:
					s.finishFound(j, true, nil)
				default:
					// Cut short by the interrupt with nothing written:
					// left undone, below the mark, so that a resumed scan
					// probes it again.
				}
			}
		}()
	}
	wg.Wait()
	<-swept
	stopMarks()
	s.connectErrorsNote()
	s.summary.Probed = s.cfg.Progress.Sweep.Done.Load()
	s.summary.Errors = int(s.errors.Load())
	return s.summary, fatal
}

type scanner struct {
	cfg     Config
	emit    func(*assess.Finding)
	mu      sync.Mutex
	summary Summary
	errors  atomic.Int64               // errors told through cfg.Warn
	servers map[string][]*serverResult // by engine and key: those that differ in start time
	batches map[int]*batch             // batches being swept
	// sessions holds a token for each session open: what they hold of
	// their servers' answers stays within the memory budget.
	sessions chan struct{}

	silentMu sync.Mutex
	silent   map[netip.Addr]int // per host, ports that let a probe's deadline pass

	connMu    sync.Mutex
	connErrs  int            // connect errors other than a refusal or timeout
	connKinds map[string]int // … by what the system said, for the closing note
}

func (s *scanner) count(f func(*Summary)) {
	s.mu.Lock()
	f(&s.summary)
	s.mu.Unlock()
}

func (s *scanner) warn(err error) { s.cfg.Warn(err) }

// skip tells of a target that was named but cannot be scanned.
func (s *scanner) skip(err error) {
	s.count(func(sm *Summary) { sm.Skipped++ })
	s.warn(err)
}

// maxConnectWarnings is how many connect errors are told one by one; the
// rest are counted, and summed up by kind when the sweep ends, so that an
// unreachable /16 does not bury everything else on the terminal.
const maxConnectWarnings = 20

// connectError tells of a connect that failed other than by a refusal or
// a timeout: an unreachable host or network, an address that cannot be
// reached from here. The endpoint is counted closed.
func (s *scanner) connectError(r sweep.Result) {
	s.connMu.Lock()
	s.connErrs++
	n := s.connErrs
	if s.connKinds == nil {
		s.connKinds = map[string]int{}
	}
	s.connKinds[connectKind(r.Err)]++
	s.connMu.Unlock()
	if n <= maxConnectWarnings {
		s.warn(fmt.Errorf("%s: connect: %w", r.Job.Endpoint, r.Err))
		return
	}
	s.errors.Add(1) // told in the closing note
}

func connectKind(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// connectErrorsNote sums up the connect errors not told one by one.
func (s *scanner) connectErrorsNote() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.connErrs <= maxConnectWarnings {
		return
	}
	kinds := make([]string, 0, len(s.connKinds))
	for k, n := range s.connKinds {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(kinds)
	s.cfg.Note(fmt.Sprintf("%d connects failed other than by a refusal or timeout, %d of them not shown above (%s); counted among the errors",
		s.connErrs, s.connErrs-maxConnectWarnings, strings.Join(kinds, ", ")))
}

// ports returns the ports to sweep when a target names none.
func (s *scanner) ports() []int {
	if len(s.cfg.Ports) > 0 {
		return s.cfg.Ports
	}
	return DefaultPorts()
}

// DefaultPorts lists every registered driver's default ports.
func DefaultPorts() []int {
	var out []int
	for _, d := range datastore.Drivers() {
		for _, p := range d.DefaultPorts() {
			if !slices.Contains(out, p.Number) {
				out = append(out, p.Number)
			}
		}
	}
	return out
}

// endpoint takes one look at an open port and hands it to each driver
// that may speak there, and returns the severity of its finding, if it
// made one. A port that accepted and then said nothing to the look is
// probed by no driver.
func (s *scanner) endpoint(ctx context.Context, p target.Endpoint) (found *assess.Severity) {
	ep := datastore.Endpoint{Host: p.Host, IP: p.IP.AsSlice(), Zone: p.IP.Zone(), Port: p.Port}
	timeout := s.probeTimeout(p.IP)
	look := s.cfg.look(ctx, ep, timeout)
	if ctx.Err() != nil {
		return nil // interrupted: no driver is asked about a look cut short
	}
	if look.Silent {
		if ctx.Err() == nil {
			s.tarpitted(p.IP)
			s.warn(fmt.Errorf("%s: accepted the connection, then said nothing within %s: a tarpit or a firewall; no datastore probed", ep, timeout))
		}
		return nil
	}
	drivers := datastore.Drivers()
	// A driver whose default port this is goes first; on any other port
	// every driver tries.
	sort.SliceStable(drivers, func(i, j int) bool { return ownsPort(drivers[i], p.Port) && !ownsPort(drivers[j], p.Port) })
	var errs []error
	for _, d := range drivers {
		svc, err := d.Probe(ctx, ep, look, timeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Name(), err))
			if ctx.Err() == nil && silent(err) {
				// A port that lets a probe's deadline pass makes every
				// other driver wait as long.
				s.tarpitted(p.IP)
				break
			}
			continue
		}
		if svc != nil {
			sev := s.service(ctx, d, svc)
			return &sev
		}
	}
	if len(errs) > 0 && ctx.Err() == nil {
		s.warn(fmt.Errorf("%s: %w", ep, errors.Join(errs...)))
	}
	return nil
}

// tarpitPorts is how many ports of a host must let a probe's deadline pass
// before its other ports are probed with the connect deadline.
const tarpitPorts = 2

// silent reports whether a probe failed by letting its deadline pass: the
// peer accepted, then said nothing (or too little) in time.
func silent(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// probeTimeout is the deadline of a probe of ip: --timeout, or the connect
// deadline once the host has tarpitted: a firewall that accepts every
// connection then costs a connect timeout per port, not a probe timeout.
func (s *scanner) probeTimeout(ip netip.Addr) time.Duration {
	s.silentMu.Lock()
	defer s.silentMu.Unlock()
	if s.silent[ip] >= tarpitPorts && s.cfg.ConnectTimeout > 0 {
		return min(s.cfg.Timeout, s.cfg.ConnectTimeout)
	}
	return s.cfg.Timeout
}

func (s *scanner) tarpitted(ip netip.Addr) {
	s.silentMu.Lock()
	s.silent[ip]++
	n := s.silent[ip]
	s.silentMu.Unlock()
	if n == tarpitPorts && s.cfg.ConnectTimeout > 0 && s.cfg.ConnectTimeout < s.cfg.Timeout {
		s.cfg.Note(fmt.Sprintf("%s accepted connections on %d ports and then said nothing within %s: its other ports are probed with the connect deadline (%s)",
			ip, n, s.cfg.Timeout, s.cfg.ConnectTimeout))
	}
}

func ownsPort(d datastore.Driver, port int) bool {
	return slices.ContainsFunc(d.DefaultPorts(), func(p datastore.Port) bool { return p.Number == port })
}

// serverResult is the assessment shared by every endpoint of one server.
type serverResult struct {
	id         datastore.ServerID
	done       chan struct{}
	deadline   time.Time // when the endpoint measuring it runs out of budget
	first      string    // endpoint that measured the server
	inventory  *datastore.Inventory
	detections []assess.Detection
	stats      assess.Stats
	errs       []string
}

func (s *scanner) service(ctx context.Context, d datastore.Driver, svc *datastore.Service) assess.Severity {
	start := time.Now()
	f := &assess.Finding{
		Host: svc.Endpoint.Host, IP: findingIP(svc.Endpoint), Port: svc.Endpoint.Port,
		Engine: svc.Engine, Protocol: svc.Protocol, TLS: svc.TLS, Version: svc.Version,
		Timezone: svc.Timezone, DisplayName: svc.DisplayName, Auth: svc.Auth, AuthCode: svc.AuthCode,
		TLSCert: svc.Cert, Notes: svc.Notes,
	}
	var remediation []string
	if svc.Auth == datastore.AuthNone {
		remediation = s.openSession(ctx, d, svc, f)
	}
	assess.Assess(f, svc, remediation)
	if f.Stats == nil {
		f.Stats = &assess.Stats{}
	}
	f.Stats.DurationMS = time.Since(start).Milliseconds()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.summary.Findings++
	s.cfg.Progress.Findings.Add(1)
	if len(f.Errors) > 0 {
		s.summary.Incomplete++
	}
	if f.Severity > s.summary.Highest {
		s.summary.Highest = f.Severity
	}
	s.emit(f)
	return f.Severity
}

// openSession proves what the session can do and, once per server, what it
// holds. It returns the driver's remediation.
func (s *scanner) openSession(ctx context.Context, d datastore.Driver, svc *datastore.Service, f *assess.Finding) []string {
	// Wait for room in the memory budget before the server's budget of
	// time starts.
	select {
	case s.sessions <- struct{}{}:
	case <-ctx.Done():
		f.Errors = append(f.Errors, "not assessed: the scan was interrupted")
		return nil
	}
	release := sync.OnceFunc(func() { <-s.sessions })
	defer release()
	scanCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ServiceBudget)
	defer cancel()
	sess, err := d.Open(ctx, svc, s.cfg.Timeout)
	if err != nil {
		f.Errors = append(f.Errors, err.Error())
		s.cfg.Warn(err)
		return nil
	}
	closeSess := sync.OnceFunc(func() { sess.Close() })
	defer closeSess()
	fail := func(what string, err error) {
		e := fmt.Errorf("%s: %s: %w", svc.Endpoint, what, err)
		f.Errors = append(f.Errors, e.Error())
		s.cfg.Warn(e)
	}
	priv, err := sess.Privileges(ctx)
	if err != nil {
		fail("judging privileges", err)
	} else {
		f.Privileges = &priv
	}
	id, err := sess.ServerID(ctx)
	if err != nil {
		// Unknown: this endpoint is its own server.
		id = datastore.ServerID{Engine: svc.Engine, Key: "endpoint " + svc.Endpoint.String()}
	}
	s.mu.Lock()
	var r *serverResult
	name := id.Engine + "|" + id.Key
	for _, kr := range s.servers[name] {
		if kr.id.Same(id) {
			r = kr
			break
		}
	}
	shared := r != nil
	if !shared {
		deadline, _ := ctx.Deadline()
		r = &serverResult{id: id, done: make(chan struct{}), first: svc.Endpoint.String(), deadline: deadline}
		s.servers[name] = append(s.servers[name], r)
	}
	s.mu.Unlock()
	remediation := sess.Remediation(priv)
	if !shared {
		s.measure(ctx, sess, svc, r)
		close(r.done)
	} else {
		// The other endpoint measures the server: this one holds no
		// session, and no room in the memory budget, while it waits,
		// and waits as long as that endpoint's budget (and one query
		// more), not its own.
		closeSess()
		release()
		wait := time.NewTimer(time.Until(r.deadline) + s.cfg.Timeout)
		defer wait.Stop()
		select {
		case <-r.done:
			f.SameServerAs = r.first
		case <-wait.C:
			fail("waiting for the other endpoint of this server", context.DeadlineExceeded)
			return remediation
		case <-scanCtx.Done():
			fail("waiting for the other endpoint of this server", scanCtx.Err())
			return remediation
		}
	}
	f.Inventory, f.Detections = r.inventory, r.detections
	f.Errors = append(f.Errors, r.errs...)
	st := r.stats
	f.Stats = &st
	return remediation
}

// measure inventories the server and sizes what its tables leak. It stops
// sampling when the server budget (ctx) runs out or the session will run
// no more per-table queries, and says so in the inventory and the errors.
func (s *scanner) measure(ctx context.Context, sess datastore.Session, svc *datastore.Service, r *serverResult) {
	budgetGone := func(what string) {
		e := fmt.Errorf("%s: the server budget of %s ran out %s", svc.Endpoint, s.cfg.ServiceBudget, what)
		r.errs = append(r.errs, e.Error())
		s.cfg.Warn(e)
	}
	inv, err := sess.Inventory(ctx)
	if err != nil {
		if ctx.Err() != nil {
			budgetGone("during the inventory")
		}
		e := fmt.Errorf("%s: inventory: %w", svc.Endpoint, err)
		r.errs = append(r.errs, e.Error())
		s.cfg.Warn(e)
		return
	}
	r.inventory = &inv
	if ctx.Err() != nil {
		budgetGone("during the inventory")
		return
	}
	if s.cfg.NoSample || s.cfg.Engine == nil {
		return
	}
	pd := sess.Pushdown()
	lim, original := s.cfg.Engine.Limits(s.cfg.Sample, pd)
	// Leaks are the server's counts over whole tables only where it counts
	// and was given something to count.
	sizing := classify.Server
	if !pd.Counts || len(lim.Keywords)+len(lim.Patterns) == 0 {
		sizing = classify.Sample
	}
	var tables []*datastore.Table
	for di := range inv.Databases {
		if db := &inv.Databases[di]; !db.System {
			for ti := range db.Tables {
				if t := &db.Tables[ti]; t.Rows != 0 {
					tables = append(tables, t)
				}
			}
		}
	}
	for i, t := range tables {
		if ctx.Err() != nil {
			why := fmt.Sprintf("after sampling %d of %d tables", i, len(tables))
			inv.Truncate("server budget ran out " + why)
			budgetGone(why)
			return
		}
		rows, err := sess.Sample(ctx, *t, lim)
		if errors.Is(err, datastore.ErrSessionCap) {
			inv.Truncate(fmt.Sprintf("sampled %d of %d tables: %v", i, len(tables), err))
			return
		}
		r.stats.RowsRead = datastore.AddCount(r.stats.RowsRead, rows.ReadRows)
		r.stats.BytesRead = datastore.AddCount(r.stats.BytesRead, rows.ReadBytes)
		if rows.ReadRows > 0 || rows.ReadBytes > 0 {
			t.Sampled = &datastore.SampleStats{Rows: rows.ReadRows, Bytes: rows.ReadBytes}
		}
		t.Truncation = append(t.Truncation, rows.Truncation...)
		if err != nil {
			if ctx.Err() != nil {
				t.Truncation = append(t.Truncation, "server budget ran out while sampling")
			}
			e := fmt.Errorf("%s: %w", svc.Endpoint, err)
			r.errs = append(r.errs, e.Error())
			s.cfg.Warn(e)
		}
		if note := ransomNote(t, rows); note != "" && !slices.ContainsFunc(inv.RansomNotes, func(n datastore.RansomNote) bool {
			return n.Database == t.Database && n.Name == t.Name
		}) {
			inv.RansomNotes = append(inv.RansomNotes, datastore.RansomNote{Database: t.Database, Name: t.Name, Text: note})
		}
		rows.Counts = renameCounts(rows.Counts, original)
		for _, d := range s.cfg.Engine.Size(t, rows, sizing, len(r.detections)) {
			r.detections = append(r.detections, assess.Detection{
				Category: d.Category, Kind: d.Kind, Rule: d.Rule,
				Location: assess.Location{Database: t.Database, Path: t.Path, Table: t.Name, Column: d.Column, Row: d.Row},
				Redacted: d.Redacted, Fingerprint: d.Fingerprint, Validated: d.Validated, Occurrences: d.Occurrences,
			})
		}
	}
}

// ransomNote is the first ransom note among the records read back from t,
// by the table's, the column's or (in a key-value store) the key's name:
// any engine's notes are found in what its sample reads.
func ransomNote(t *datastore.Table, rows datastore.Rows) string {
	for _, row := range rows.Values {
		for ci, v := range row {
			if ci >= len(rows.Columns) || v == "" {
				continue
			}
			if note, ok := datastore.FindRansomNote(v, t.Name, rows.Columns[ci]); ok {
				return note
			}
		}
	}
	return ""
}

// renameCounts gives counts of translated patterns back the rules' own
// patterns as names.
func renameCounts(counts map[string]int64, original map[string]string) map[string]int64 {
	if len(original) == 0 || len(counts) == 0 {
		return counts
	}
	out := make(map[string]int64, len(counts))
	for k, n := range counts {
		if o, ok := original[k]; ok {
			k = o
		}
		out[k] = n
	}
	return out
}

// findingIP is the address a finding names: with its zone, for a
// link-local IPv6 address, since without it the address reaches nothing.
func findingIP(ep datastore.Endpoint) string {
	if ep.Zone != "" {
		return ep.IP.String() + "%" + ep.Zone
	}
	return ep.IP.String()
}
