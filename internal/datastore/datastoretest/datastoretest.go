// Package datastoretest is the conformance suite every datastore driver
// runs against its own real lab server, as net/http/httptest serves
// net/http's tests: what the scanner promises of any engine (a peer of
// another kind is not claimed, a tarpit costs one timeout, an assessment
// changes nothing, limits hold, hostile names are quoted and escaped,
// identity is typed) is checked once, here, for every driver.
//
// # How a new engine joins
//
// One file in the driver's package, conformance_test.go:
//
//	func TestConformance(t *testing.T) {
//		datastoretest.Run(t, datastoretest.Lab{
//			Driver:     Driver{},
//			Open:       datastoretest.Endpoint(lab.MariaDBOpen.Host, lab.MariaDBOpen.Port),
//			Locked:     datastoretest.EndpointPtr(lab.MariaDBLocked.Host, lab.MariaDBLocked.Port),
//			Restricted: datastoretest.EndpointPtr(lab.MariaDBRestricted.Host, lab.MariaDBRestricted.Port),
//			Snapshot:   lab.MariaDBOpen.Snapshot, // read as the lab's admin, never through the driver
//			Hostile:    []string{lab.SQLDatabase + "." + lab.InjectionTable, …},
//		})
//	}
//
// The snapshot is the lab's (internal/lab/snapshot.go holds one per
// engine). LabPeers lists each engine's lab server under the driver name
// that owns it, so that every other driver is shown it and this one is
// not: a new engine adds its line there (MariaDB's is in already, as
// "mysql"; rename it if the driver is named otherwise). The checks that
// need no lab (peers of other kinds served by the suite itself, the
// tarpit) always run; the ones against the lab's servers skip without
// LEAKHOUND_LAB=1.
//
// A check that fails is a finding about the driver, to be fixed there:
// the suite's bounds are the scanner's promises, not a driver's habits.
package datastoretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
	"github.com/leakhound/leakhound/internal/report"
)

// Lab is what a driver's test gives the suite.
type Lab struct {
	Driver datastore.Driver
	// Open is a lab server of this engine that lets the scanner in.
	Open datastore.Endpoint
	// Locked requires a password; Restricted refuses the scanner's
	// address. Either may be nil where the engine has none in the lab.
	Locked     *datastore.Endpoint
	Restricted *datastore.Endpoint
	// Snapshot reads the Open server's data, schema and settings with the
	// lab's admin account (never the scanner's code path): equal before
	// and after means nothing changed.
	Snapshot func(ctx context.Context) (string, error)
	// Hostile are qualified names (Table.QualifiedName) of lab tables with
	// hostile names (quotes, backticks, terminal escapes, long names),
	// each expected in the Open server's inventory.
	Hostile []string
	// Timeout is what each call is given; 0 means DefaultTimeout.
	Timeout time.Duration
}

const (
	// DefaultTimeout is the per-call timeout when Lab.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// PeerTimeout is what a probe of a peer of another kind is given:
	// a driver that probes with no look may wait it out.
	PeerTimeout = 3 * time.Second
	// TarpitTimeout is the timeout the tarpit check gives: small, so
	// that "costs one timeout" costs the suite little.
	TarpitTimeout = time.Second
	// AnswerSlack is how far past Limits.Bytes a Sample may read: the
	// answer in flight when the budget ran out.
	AnswerSlack = 1 << 20
	// prompt is how long a call given an expired context may take.
	prompt = 5 * time.Second
)

// Peer is a lab server of one engine, a peer of another kind for every
// other driver.
type Peer struct {
	Engine string // the driver name that would claim it
	Name   string
	Addr   datastore.Endpoint
}

// LabPeers are the lab's open servers, by the driver that owns each: a
// driver of any other engine must not claim them.
var LabPeers = []Peer{
	{"clickhouse", "clickhouse-http", Endpoint(lab.Open.Host, lab.Open.HTTPPort)},
	{"clickhouse", "clickhouse-native", Endpoint(lab.Open.Host, lab.Open.NativePort)},
	{"postgresql", "postgresql", Endpoint(lab.PGOpen.Host, lab.PGOpen.Port)},
	{"mysql", "mariadb", Endpoint(lab.MariaDBOpen.Host, lab.MariaDBOpen.Port)},
	{"elasticsearch", "elasticsearch-replay", Endpoint(lab.ESOpen.Host, lab.ESOpen.Port)},
	{"elasticsearch", "kibana-replay", Endpoint(lab.KibanaOpen.Host, lab.KibanaOpen.Port)},
	{"redis", "redis", Endpoint(lab.RedisOpen.Host, lab.RedisOpen.Port)},
	{"etcd", "etcd", Endpoint(lab.EtcdOpen.Host, lab.EtcdOpen.Port)},
	{"memcached", "memcached", Endpoint(lab.MemcachedOpen.Host, lab.MemcachedOpen.Port)},
	{"mongodb", "ferretdb", Endpoint(lab.MongoOpen.Host, lab.MongoOpen.Port)},
}

// Endpoint is the endpoint of a bare address and port.
func Endpoint(host string, port int) datastore.Endpoint {
	return datastore.Endpoint{Host: host, IP: net.ParseIP(host), Port: port}
}

// EndpointPtr is Endpoint, for Lab's optional endpoints.
func EndpointPtr(host string, port int) *datastore.Endpoint {
	ep := Endpoint(host, port)
	return &ep
}

// Run runs every check of the suite on lab, each as a subtest.
func Run(t *testing.T, l Lab) {
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	t.Run("peers", func(t *testing.T) { testPeers(t, l) })
	t.Run("tarpit", func(t *testing.T) { testTarpit(t, l) })
	t.Run("lab", func(t *testing.T) {
		if !lab.Enabled() {
			t.Skip("LEAKHOUND_LAB=1 not set (scripts/test brings the lab up)")
		}
		testLab(t, l)
	})
}

// ---- peers of another kind ----

// Serve is a TCP server on 127.0.0.1:0 that runs serve on every
// connection and closes them all when the test ends: the hostile peer of
// a driver's own tests.
func Serve(t *testing.T, serve func(c net.Conn)) datastore.Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return Endpoint("127.0.0.1", ln.Addr().(*net.TCPAddr).Port)
}

// garbage is bytes no datastore speaks: not ASCII, not a length-prefixed
// frame that fits, not TLS.
var garbage = func() []byte {
	b := make([]byte, 512)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x) | 0x80
	}
	return b
}()

// drain reads what the client sends until it hangs up.
func drain(c net.Conn) { io.Copy(io.Discard, c) }

// syntheticPeers are small servers of other kinds the suite serves itself.
func syntheticPeers(t *testing.T) []Peer {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Ok.\n") // what ClickHouse's HTTP interface and the lab's nginx answer
	}))
	t.Cleanup(web.Close)
	webEP := Endpoint("127.0.0.1", web.Listener.Addr().(*net.TCPAddr).Port)
	return []Peer{
		{"http", "http-ok", webEP},
		{"ssh", "ssh-banner", Serve(t, func(c net.Conn) {
			io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
			drain(c)
		})},
		{"closer", "closer", Serve(t, func(c net.Conn) {})},
		{"garbage", "garbage-banner", Serve(t, func(c net.Conn) {
			c.Write(garbage)
			drain(c)
		})},
		{"garbage", "garbage-reply", Serve(t, func(c net.Conn) {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				if _, err := c.Write(garbage); err != nil {
					return
				}
			}
		})},
	}
}

// testPeers gives every peer of another kind its real first look, and no
// look at all: the driver must never claim it.
func testPeers(t *testing.T, l Lab) {
	peers := syntheticPeers(t)
	for _, p := range LabPeers {
		if p.Engine != l.Driver.Name() {
			peers = append(peers, p)
		}
	}
	for _, p := range peers {
		t.Run(p.Name, func(t *testing.T) {
			isLab := !p.Addr.IP.Equal(net.IPv4(127, 0, 0, 1))
			if isLab && !lab.Enabled() {
				t.Skip("a lab server: LEAKHOUND_LAB=1 not set")
			}
			ctx := context.Background()
			look := datastore.Look(ctx, p.Addr, PeerTimeout)
			if look.Err != nil && isLab {
				t.Skipf("the lab's %s at %s does not answer: %v", p.Name, p.Addr, look.Err)
			}
			for _, c := range []struct {
				name string
				look datastore.FirstLook
			}{{"look", look}, {"no look", datastore.FirstLook{}}} {
				svc, err := l.Driver.Probe(ctx, p.Addr, c.look, PeerTimeout)
				if svc != nil {
					t.Errorf("%s Probe(%s, %s) with %s = a %s service (auth %s, version %q), %v; want nil: it is not this engine",
						l.Driver.Name(), p.Name, p.Addr, c.name, svc.Engine, svc.Auth, svc.Version, err)
				} else if err != nil {
					t.Logf("%s Probe(%s) with %s = nil, %v (an error, not nil, nil)", l.Driver.Name(), p.Name, c.name, err)
				}
			}
		})
	}
}

// ---- a tarpit ----

func testTarpit(t *testing.T, l Lab) {
	ep := Serve(t, drain)
	ctx := context.Background()
	start := time.Now()
	look := datastore.Look(ctx, ep, TarpitTimeout)
	if took := time.Since(start); !look.Silent || took > TarpitTimeout+2*time.Second {
		t.Errorf("Look(a tarpit, %s) = silent %v after %s; want silent within %s", TarpitTimeout, look.Silent, took.Round(time.Millisecond), TarpitTimeout+2*time.Second)
	}
	// The scanner never probes a Silent port, but a driver called with no
	// look (a probe of its own) must still cost a bounded multiple of its
	// timeout.
	limit := 3*TarpitTimeout + 2*time.Second
	start = time.Now()
	svc, err := l.Driver.Probe(ctx, ep, datastore.FirstLook{}, TarpitTimeout)
	took := time.Since(start)
	if svc != nil {
		t.Errorf("Probe(a tarpit) = a %s service, %v; want nil or an error", svc.Engine, err)
	}
	if took > limit {
		t.Errorf("Probe(a tarpit, timeout %s) took %s, want at most %s", TarpitTimeout, took.Round(time.Millisecond), limit)
	}
	t.Logf("Probe(a tarpit, timeout %s) = %v after %s", TarpitTimeout, err, took.Round(time.Millisecond))
}

// ---- against the lab ----

// run is what the lab checks share: one full assessment of the Open
// server, whose results the later checks read.
type run struct {
	Lab
	svc  *datastore.Service
	priv datastore.Privileges
	inv  datastore.Inventory
	rem  []string
	// before is the Open server's snapshot before the assessment.
	before string
}

func testLab(t *testing.T, l Lab) {
	r := &run{Lab: l}
	t.Run("auth", r.testAuth)
	if !t.Run("assessment changes nothing", r.testAssessment) || r.svc == nil {
		return
	}
	t.Run("limits", r.testLimits)
	t.Run("expired context", r.testExpired)
	t.Run("hostile names", r.testHostile)
	t.Run("identity", r.testIdentity)
	t.Run("regex dialect", r.testRegex)
	t.Run("suite changes nothing", r.testUnchanged)
}

func (r *run) probe(t *testing.T, ep datastore.Endpoint) *datastore.Service {
	t.Helper()
	ctx := context.Background()
	svc, err := r.Driver.Probe(ctx, ep, datastore.Look(ctx, ep, r.Timeout), r.Timeout)
	if err != nil || svc == nil {
		t.Fatalf("Probe(%s) = %v, %v; want a %s service", ep, svc, err, r.Driver.Name())
	}
	if svc.Engine != r.Driver.Name() {
		t.Errorf("Probe(%s).Engine = %q, want %q", ep, svc.Engine, r.Driver.Name())
	}
	return svc
}

func (r *run) open(t *testing.T) datastore.Session {
	t.Helper()
	svc := r.probe(t, r.Open)
	sess, err := r.Driver.Open(context.Background(), svc, r.Timeout)
	if err != nil {
		t.Fatalf("Open(%s) = %v", r.Open, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func (r *run) testAuth(t *testing.T) {
	for _, c := range []struct {
		name string
		ep   *datastore.Endpoint
		want datastore.Auth
	}{{"open", &r.Open, datastore.AuthNone}, {"locked", r.Locked, datastore.AuthRequired}, {"restricted", r.Restricted, datastore.AuthIPRestricted}} {
		t.Run(c.name, func(t *testing.T) {
			if c.ep == nil {
				t.Skipf("the lab has no %s %s server", c.name, r.Driver.Name())
			}
			if svc := r.probe(t, *c.ep); svc.Auth != c.want {
				t.Errorf("Probe(%s).Auth = %s (%q), want %s", *c.ep, svc.Auth, svc.AuthMessage, c.want)
			}
		})
	}
}

// scanLimits are what the scanner asks of a Sample: the default engine's
// keywords and patterns, translated into the session's dialect, only as
// far as the session declares it can run them (classify.Engine.Limits).
func scanLimits(pd datastore.Pushdown, timeout time.Duration) datastore.Limits {
	lim, _ := classify.Default().Limits(datastore.Limits{Rows: 3, Random: 5, Bytes: 8 << 20, Timeout: timeout}, pd)
	return lim
}

// userTables are the tables the scanner samples: outside system
// databases, not known empty; each with its Database set.
func userTables(inv datastore.Inventory) []datastore.Table {
	var out []datastore.Table
	for _, db := range inv.Databases {
		if db.System {
			continue
		}
		for _, tb := range db.Tables {
			if tb.Database == "" {
				tb.Database = db.Name
			}
			if tb.Rows != 0 {
				out = append(out, tb)
			}
		}
	}
	return out
}

func (r *run) testAssessment(t *testing.T) {
	ctx := context.Background()
	before, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot before: %v", err)
	}
	func() {
		svc := r.probe(t, r.Open)
		if svc.Auth != datastore.AuthNone {
			t.Fatalf("Probe(%s).Auth = %s, want none", r.Open, svc.Auth)
		}
		sess, err := r.Driver.Open(ctx, svc, r.Timeout)
		if err != nil {
			t.Fatalf("Open(%s) = %v", r.Open, err)
		}
		defer func() {
			if err := sess.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		}()
		if _, err := sess.ServerID(ctx); err != nil {
			t.Errorf("ServerID = %v", err)
		}
		priv, err := sess.Privileges(ctx)
		if err != nil {
			t.Errorf("Privileges = %v", err)
		}
		inv, err := sess.Inventory(ctx)
		if err != nil {
			t.Fatalf("Inventory = %v", err)
		}
		lim := scanLimits(sess.Pushdown(), r.Timeout)
		tables := userTables(inv)
		if len(tables) == 0 {
			t.Errorf("the inventory of %s lists no user table to sample", r.Open)
		}
		for _, tb := range tables {
			if _, err := sess.Sample(ctx, tb, lim); err != nil {
				t.Errorf("Sample(%q) = %v", tb.QualifiedName(), err)
			}
		}
		r.svc, r.priv, r.inv, r.rem = svc, priv, inv, sess.Remediation(priv)
		t.Logf("assessed %s: %d databases, %d tables sampled, %d capabilities", r.Open, len(inv.Databases), len(tables), len(priv.Capabilities))
	}()
	after, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot after: %v", err)
	}
	if after != before {
		t.Errorf("a full assessment changed the server:\n%s", diff(before, after))
	}
	r.before = before
}

// diff names the lines of a and b that differ, a few of each.
func diff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ia, ib := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !ib[l] && len(out) < 20 {
			out = append(out, "- "+report.Safe(l))
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ia[l] && len(out) < 40 {
			out = append(out, "+ "+report.Safe(l))
		}
	}
	return strings.Join(out, "\n")
}

// testLimits samples every user table under tight limits: the scan's
// filters with few rows each; two keywords nearly every text holds ("e",
// "a"), where the row limits must bite; and many rows wanted of one such
// keyword, where the byte budget must.
func (r *run) testLimits(t *testing.T) {
	ctx := context.Background()
	sess := r.open(t)
	pd := sess.Pushdown()
	scan := scanLimits(pd, r.Timeout)
	scan.Rows, scan.Random, scan.Bytes = 2, 3, 64<<10
	common := datastore.Limits{Rows: 2, Random: 3, Bytes: 64 << 10, Timeout: r.Timeout}
	many := datastore.Limits{Rows: 100000, Random: 100000, Bytes: 64 << 10, Timeout: r.Timeout}
	if pd.Substring {
		common.Keywords = []string{"e", "a"}
		many.Keywords = []string{"e"}
	}
	for _, c := range []struct {
		name string
		lim  datastore.Limits
	}{{"scan filters", scan}, {"common keywords", common}, {"many rows", many}} {
		lim := c.lim
		filters := len(lim.Keywords) + len(lim.Patterns)
		most := filters*lim.Rows + lim.Random
		var maxRows int
		var maxBytes int64
		for _, tb := range userTables(r.inv) {
			rows, err := sess.Sample(ctx, tb, lim)
			if errors.Is(err, datastore.ErrSessionCap) {
				sess = r.open(t)
				rows, err = sess.Sample(ctx, tb, lim)
			}
			if err != nil {
				t.Errorf("%s: Sample(%s) = %v", c.name, report.Safe(tb.QualifiedName()), err)
			}
			maxRows, maxBytes = max(maxRows, len(rows.Values)), max(maxBytes, rows.ReadBytes)
			name := report.Safe(tb.QualifiedName())
			if len(rows.Values) > most || rows.ReadRows > int64(most) {
				t.Errorf("%s: Sample(%s) with %d filters × %d rows + %d random = %d rows (%d read back); want at most %d", c.name, name, filters, lim.Rows, lim.Random, len(rows.Values), rows.ReadRows, most)
			}
			if rows.ReadBytes > lim.Bytes+AnswerSlack {
				t.Errorf("%s: Sample(%s) read %d bytes back, want at most %d (+%d for the answer in flight)", c.name, name, rows.ReadBytes, lim.Bytes, AnswerSlack)
			}
			for i, row := range rows.Values {
				if len(row) != len(rows.Columns) {
					t.Errorf("%s: Sample(%s) row %d has %d cells for %d columns", c.name, name, i, len(row), len(rows.Columns))
					break
				}
			}
		}
		t.Logf("%s: %d filters × %d rows + %d random, %d bytes: at most %d rows and %d bytes read back from one table", c.name, filters, lim.Rows, lim.Random, lim.Bytes, maxRows, maxBytes)
	}
}

func (r *run) testExpired(t *testing.T) {
	sess := r.open(t)
	tables := userTables(r.inv)
	if len(tables) == 0 {
		t.Skip("no table")
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	lim := scanLimits(sess.Pushdown(), r.Timeout)
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Inventory", func() error { _, err := sess.Inventory(ctx); return err }},
		{"Sample", func() error { _, err := sess.Sample(ctx, tables[0], lim); return err }},
	} {
		start := time.Now()
		err := c.call()
		if took := time.Since(start); err == nil || took > prompt {
			t.Errorf("%s(an expired context) = %v after %s; want an error within %s", c.name, err, took.Round(time.Millisecond), prompt)
		}
	}
}

// control reports whether b holds a byte that a terminal acts on (ESC,
// BEL, CSI, backspace, carriage return) other than a line feed or tab.
func control(b []byte) bool { return bytes.ContainsFunc(b, isControl) }

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

func (r *run) testHostile(t *testing.T) {
	if len(r.Hostile) == 0 {
		t.Skip("the lab names no hostile table")
	}
	ctx := context.Background()
	sess := r.open(t)
	lim := scanLimits(sess.Pushdown(), r.Timeout)
	byName := map[string]datastore.Table{}
	for _, db := range r.inv.Databases {
		for _, tb := range db.Tables {
			if tb.Database == "" {
				tb.Database = db.Name
			}
			byName[tb.QualifiedName()] = tb
		}
	}
	for _, name := range r.Hostile {
		tb, ok := byName[name]
		if !ok {
			t.Errorf("the inventory holds no table named %s exactly", report.Safe(name))
			continue
		}
		rows, err := sess.Sample(ctx, tb, lim)
		if err != nil {
			t.Errorf("Sample(%s) = %v; want its name quoted", report.Safe(name), err)
		} else if tb.Rows > 0 && len(rows.Values) == 0 {
			t.Errorf("Sample(%s) read no row of its %d", report.Safe(name), tb.Rows)
		}
		if control([]byte(report.Safe(name))) {
			t.Errorf("report.Safe(%q) keeps a control byte", name)
		}
	}
	// The reports a user reads.
	f := assess.Finding{Host: r.Open.Host, IP: r.Open.IP.String(), Port: r.Open.Port, Engine: r.svc.Engine,
		Protocol: r.svc.Protocol, TLS: r.svc.TLS, Version: r.svc.Version, Auth: r.svc.Auth,
		Privileges: &r.priv, Inventory: &r.inv}
	assess.Assess(&f, r.svc, r.rem)
	for _, format := range []string{"text", "markdown"} {
		var b bytes.Buffer
		w, err := report.New(format, &b, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&f); err != nil {
			t.Fatalf("%s report: %v", format, err)
		}
		w.Close()
		if control(b.Bytes()) {
			i := bytes.IndexFunc(b.Bytes(), isControl)
			t.Errorf("the %s report holds a control byte: …%q…", format, b.Bytes()[max(0, i-40):min(b.Len(), i+40)])
		}
		if format != "text" {
			continue
		}
		for _, name := range r.Hostile {
			// The text report clips a long name: its head is shown, escaped.
			if safe := []rune(report.Safe(name)); !strings.Contains(b.String(), string(safe[:min(len(safe), 40)])) {
				t.Errorf("the text report does not show %s", string(safe))
			}
		}
	}
}

var impacts = []datastore.Impact{datastore.ImpactWrite, datastore.ImpactReadFiles, datastore.ImpactReachHosts, datastore.ImpactRunCode, datastore.ImpactAdminister}

func (r *run) testIdentity(t *testing.T) {
	ctx := context.Background()
	var ids []datastore.ServerID
	for range 2 {
		id, err := r.open(t).ServerID(ctx)
		if err != nil {
			t.Fatalf("ServerID = %v", err)
		}
		ids = append(ids, id)
	}
	if !ids[0].Same(ids[1]) || ids[0].Engine != r.Driver.Name() || ids[0].Key == "" {
		t.Errorf("two sessions on %s: ServerIDs %v and %v; want the same, of engine %s, with a key", r.Open, ids[0], ids[1], r.Driver.Name())
	}
	for _, c := range r.priv.Capabilities {
		if c.ID == "" || !slices.Contains(impacts, c.Impact) || c.Summary == "" {
			t.Errorf("capability %+v: want an ID, a summary and an impact among %q", c, impacts)
		}
		if c.Granted != datastore.Unknown && c.Granted != datastore.Yes && c.Granted != datastore.No {
			t.Errorf("capability %s: verdict %d is none of yes, no, unknown", c.ID, c.Granted)
		}
	}
}

func (r *run) testRegex(t *testing.T) {
	ctx := context.Background()
	sess := r.open(t)
	pd := sess.Pushdown()
	if pd.Regex == datastore.DialectNone {
		t.Skipf("%s declares no regex dialect", r.Driver.Name())
	}
	// The smallest table holding rows: each pattern costs one query.
	var small *datastore.Table
	for _, tb := range userTables(r.inv) {
		if tb.Rows > 0 && (small == nil || tb.Rows < small.Rows) {
			small = &tb
		}
	}
	if small == nil {
		t.Skip("no table with rows")
	}
	e := classify.Default()
	_, patterns := e.Pushdown()
	for _, rule := range e.Rules() {
		patterns = append(patterns, rule.Pattern)
	}
	slices.Sort(patterns)
	patterns = slices.Compact(patterns)
	refused, ran := 0, 0
	for _, p := range patterns {
		out, err := datastore.TranslateRegex(p, pd.Regex)
		if err != nil {
			refused++
			continue
		}
		ran++
		lim := datastore.Limits{Rows: 1, Bytes: 64 << 10, Timeout: r.Timeout, Patterns: []string{out}}
		_, err = sess.Sample(ctx, *small, lim)
		if errors.Is(err, datastore.ErrSessionCap) { // a session runs a bounded number of queries: take another
			sess = r.open(t)
			_, err = sess.Sample(ctx, *small, lim)
		}
		if err != nil {
			t.Errorf("Sample(%s) with pattern %q (%s of %q) = %v; want the server to accept it", report.Safe(small.QualifiedName()), out, pd.Regex, p, err)
		}
	}
	t.Logf("%s: %d of the default rules' %d patterns translated and run on the server, %d refused by TranslateRegex", pd.Regex, ran, len(patterns), refused)
}

// testUnchanged compares the server after every check of the suite with
// the snapshot taken before the assessment: none of the sessions, probes
// and samples since changed it either.
func (r *run) testUnchanged(t *testing.T) {
	after, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != r.before {
		t.Errorf("the suite's sessions changed the server:\n%s", diff(r.before, after))
	}
}
