package postgres

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

const labTimeout = 10 * time.Second

func needLab(t *testing.T) {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set (scripts/test brings the lab up)")
	}
}

func labEndpoint(s lab.PGServer) datastore.Endpoint {
	return datastore.Endpoint{Host: s.Host, IP: net.ParseIP(s.Host), Port: s.Port}
}

func TestLabProbe(t *testing.T) {
	needLab(t)
	for _, tc := range []struct {
		s       lab.PGServer
		auth    datastore.Auth
		tls     bool
		message string
	}{
		{lab.PGOpen, datastore.AuthNone, false, ""},
		{lab.PGLocked, datastore.AuthRequired, false, `PostgreSQL asks user "postgres" for SASL (SCRAM-SHA-256)`},
		{lab.PGRestricted, datastore.AuthIPRestricted, false, `no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption (SQLSTATE 28000)`},
		{lab.PGTLS, datastore.AuthNone, true, ""},
	} {
		t.Run(tc.s.Name, func(t *testing.T) {
			svc, err := Driver{}.Probe(context.Background(), labEndpoint(tc.s), datastore.FirstLook{}, labTimeout)
			if err != nil || svc == nil {
				t.Fatalf("Probe(%s) = %v, %v; want a service", tc.s.Host, svc, err)
			}
			if svc.Auth != tc.auth || svc.TLS != tc.tls || svc.Engine != "postgresql" || svc.Protocol != "postgres" {
				t.Errorf("Probe(%s) = auth %s tls %v engine %s protocol %s; want auth %s tls %v", tc.s.Host, svc.Auth, svc.TLS, svc.Engine, svc.Protocol, tc.auth, tc.tls)
			}
			if tc.auth == datastore.AuthNone && !strings.HasPrefix(svc.Version, "1") {
				t.Errorf("Probe(%s).Version = %q, want the server's", tc.s.Host, svc.Version)
			}
			if tc.tls && (svc.Cert == nil || svc.Cert.SHA256 == "") {
				t.Errorf("Probe(%s).Cert = %+v, want the certificate", tc.s.Host, svc.Cert)
			}
			if tc.message != "" && !strings.HasPrefix(svc.AuthMessage, tc.message) {
				t.Errorf("Probe(%s).AuthMessage = %q, want it to start %q", tc.s.Host, svc.AuthMessage, tc.message)
			}
			if tc.auth == datastore.AuthNone && svc.Timezone == "" {
				t.Errorf("Probe(%s).Timezone is empty, want the server's TimeZone", tc.s.Host)
			}
			if tc.auth == datastore.AuthNone && svc.User != "postgres" {
				t.Errorf("Probe(%s).User = %q, want postgres", tc.s.Host, svc.User)
			}
		})
	}
}

// labLimits are what the scanner asks of a Sample: the default rules'
// keywords and the chat keywords, a few POSIX patterns, and every rule
// with keywords counted exactly.
func labLimits() datastore.Limits {
	e := classify.Default()
	kws, _ := e.Pushdown()
	lim := datastore.Limits{Rows: 3, Random: 5, Bytes: 8 << 20, Timeout: 10 * time.Second,
		Keywords: append(kws, classify.ChatKeywords()...),
		Patterns: []string{`[0-9]{3}-[0-9]{2}-[0-9]{4}`, `1[3-9][0-9]{9}`},
		Exact:    map[string]datastore.Match{}}
	for _, r := range e.Rules() {
		if len(r.Keywords) > 0 {
			lim.Exact["rule:"+r.ID] = datastore.Match{Keywords: r.Keywords, Pattern: r.Pattern}
		}
	}
	return lim
}

// snapshot is what a read-only assessment must leave as it was (the
// lab's own snapshot, read as its admin).
func snapshot(t *testing.T, s lab.PGServer) string {
	t.Helper()
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// assessment is a full assessment of one server, as the scanner runs it.
type assessment struct {
	svc       *datastore.Service
	id        datastore.ServerID
	priv      datastore.Privileges
	inv       datastore.Inventory
	rows      map[string]datastore.Rows // by qualified name
	remediate []string
}

func assess(t testing.TB, s lab.PGServer) assessment {
	t.Helper()
	ctx := context.Background()
	var a assessment
	svc, err := Driver{}.Probe(ctx, labEndpoint(s), datastore.FirstLook{}, labTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(%s) = %+v, %v; want open", s.Host, svc, err)
	}
	a.svc = svc
	sess, err := Driver{}.Open(ctx, svc, labTimeout)
	if err != nil {
		t.Fatalf("Open(%s) = %v", s.Host, err)
	}
	defer sess.Close()
	if a.id, err = sess.ServerID(ctx); err != nil {
		t.Fatalf("ServerID = %v", err)
	}
	if a.priv, err = sess.Privileges(ctx); err != nil {
		t.Fatalf("Privileges = %v", err)
	}
	if a.inv, err = sess.Inventory(ctx); err != nil {
		t.Fatalf("Inventory = %v", err)
	}
	a.rows = map[string]datastore.Rows{}
	lim := labLimits()
	for _, db := range a.inv.Databases {
		if db.System {
			continue
		}
		for _, tb := range db.Tables {
			if tb.Rows == 0 {
				continue
			}
			rows, err := sess.Sample(ctx, tb, lim)
			if err != nil {
				t.Errorf("Sample(%q) = %v", tb.QualifiedName(), err)
			}
			a.rows[tb.QualifiedName()] = rows
		}
	}
	a.remediate = sess.Remediation(a.priv)
	return a
}

func findTable(inv datastore.Inventory, db, name string) *datastore.Table {
	for _, d := range inv.Databases {
		if d.Name != db {
			continue
		}
		for i, t := range d.Tables {
			if t.Name == name {
				return &d.Tables[i]
			}
		}
	}
	return nil
}

func TestLabOpenAssessment(t *testing.T) {
	needLab(t)
	before := snapshot(t, lab.PGOpen)
	a := assess(t, lab.PGOpen)
	if after := snapshot(t, lab.PGOpen); after != before {
		t.Errorf("the assessment changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if a.id.Engine != "postgresql" || !strings.HasPrefix(a.id.Key, "127.0.0.8|") || len(a.id.Key) < 20 || a.id.Started.IsZero() {
		t.Errorf("ServerID = %+v, want the address, system identifier and start time", a.id)
	}
	granted := map[string]datastore.Verdict{}
	for _, c := range a.priv.Capabilities {
		granted[c.ID] = c.Granted
	}
	for _, id := range []string{"superuser", "pg_execute_server_program", "pg_read_server_files", "create", "createrole"} {
		if granted[id] != datastore.Yes {
			t.Errorf("capability %s = %v, want yes for superuser postgres (all: %+v)", id, granted[id], a.priv.Capabilities)
		}
	}
	if a.priv.Readonly != datastore.No {
		t.Errorf("Readonly = %v, want no", a.priv.Readonly)
	}
	for name, rows := range map[string]int64{"conversations": lab.ConversationsRows, "customers": lab.CustomersRows, "integrations": lab.IntegrationsRows, "chat_logs": lab.ChatLogsRows} {
		tb := findTable(a.inv, lab.SQLDatabase, name)
		if tb == nil {
			t.Errorf("inventory holds no %s.%s", lab.SQLDatabase, name)
			continue
		}
		if tb.Rows < rows*9/10 || tb.Rows > rows*11/10 || tb.Bytes <= 0 || tb.Kind != "table" || !slices.Equal(tb.Path, []string{"public"}) || len(tb.Columns) == 0 {
			t.Errorf("%s = rows %d (exact %v) bytes %d kind %q path %q, %d columns; want about %d rows", name, tb.Rows, tb.RowsExact, tb.Bytes, tb.Kind, tb.Path, len(tb.Columns), rows)
		}
		if rows <= exactCountRows && (!tb.RowsExact || tb.Rows != rows) {
			t.Errorf("%s rows = %d exact %v, want exactly %d", name, tb.Rows, tb.RowsExact, rows)
		}
	}
	for _, name := range []string{lab.InjectionTable, lab.DoubleQuoteTable, lab.BacktickTable, lab.EscapeTable, lab.PGLongTable} {
		tb := findTable(a.inv, lab.SQLDatabase, name)
		if tb == nil || tb.Rows != 1 || !tb.RowsExact {
			t.Errorf("hostile table %q = %+v, want listed with 1 row counted", name, tb)
			continue
		}
		if rows := a.rows[tb.QualifiedName()]; len(rows.Values) == 0 {
			t.Errorf("Sample(%q) read no row, want its one", name)
		}
	}
	// Detections in what was read back.
	eng := classify.Default()
	if k, err := classify.NewKey(); err == nil {
		eng = eng.WithKey(k)
	}
	kinds := map[string]map[string]bool{}
	for name, rows := range a.rows {
		for _, r := range rows.Values {
			for _, v := range r {
				for _, d := range eng.Scan(v) {
					if kinds[name] == nil {
						kinds[name] = map[string]bool{}
					}
					kinds[name][d.Category] = true
				}
			}
		}
	}
	for _, name := range []string{"conversations", "customers", "integrations", "chat_logs"} {
		q := lab.SQLDatabase + ".public." + name
		if !kinds[q]["secret"] && !kinds[q]["pii"] {
			t.Errorf("no detection in the rows read back from %s (%d rows)", q, len(a.rows[q].Values))
		}
	}
	if !kinds[lab.SQLDatabase+".public.integrations"]["secret"] {
		t.Errorf("no secret detected in integrations")
	}
	cl := a.rows[lab.SQLDatabase+".public.chat_logs"]
	if cl.ReadRows*100 >= lab.ChatLogsRows {
		t.Errorf("chat_logs: %d rows read back, want under 1%% of %d", cl.ReadRows, lab.ChatLogsRows)
	}
	if cl.Counts["sk-proj-"] <= 0 || cl.Counts["rule:openai-project-key"] <= 0 {
		t.Errorf("chat_logs counts: sk-proj- %d, rule:openai-project-key %d; want both counted", cl.Counts["sk-proj-"], cl.Counts["rule:openai-project-key"])
	}
	t.Logf("chat_logs: read back %d rows, %d bytes (%.3f%% of %d rows); truncation %q", cl.ReadRows, cl.ReadBytes, float64(cl.ReadRows)*100/lab.ChatLogsRows, lab.ChatLogsRows, cl.Truncation)
	var names []string
	for k, n := range cl.Counts {
		if n > 0 {
			names = append(names, fmt.Sprintf("%s=%d", k, n))
		}
	}
	sort.Strings(names)
	t.Logf("chat_logs counts: %s", strings.Join(names, " "))
	if len(a.remediate) == 0 || !strings.Contains(a.remediate[0], "pg_hba.conf") {
		t.Errorf("Remediation = %q, want pg_hba.conf first", a.remediate)
	}
}

func TestLabTLSAssessment(t *testing.T) {
	needLab(t)
	a := assess(t, lab.PGTLS)
	if !a.svc.TLS || a.inv.Databases == nil {
		t.Errorf("TLS assessment: tls %v, %d databases", a.svc.TLS, len(a.inv.Databases))
	}
	if findTable(a.inv, lab.SQLDatabase, "customers") == nil {
		t.Errorf("TLS inventory holds no customers")
	}
}

// TestLabBenchmark measures a full assessment of the open server, three
// times, and prints the median (LEAKHOUND_LAB=1 go test -run LabBenchmark -v).
func TestLabBenchmark(t *testing.T) {
	needLab(t)
	if testing.Short() {
		t.Skip("short")
	}
	var ds []time.Duration
	var cl datastore.Rows
	for range 3 {
		start := time.Now()
		a := assess(t, lab.PGOpen)
		ds = append(ds, time.Since(start))
		cl = a.rows[lab.SQLDatabase+".public.chat_logs"]
	}
	slices.Sort(ds)
	t.Logf("full assessment of %s (probe, open, privileges, inventory, sample of every table): median %s of %v", lab.PGOpen.Host, ds[1].Round(time.Millisecond), ds)
	t.Logf("chat_logs (%d rows): %d rows and %d bytes read back (%.3f%% of its rows)", lab.ChatLogsRows, cl.ReadRows, cl.ReadBytes, float64(cl.ReadRows)*100/lab.ChatLogsRows)
}

// TestLabNoGrants opens the open server as analyst, a login with no
// grants: the inventory is visible, the data is not, and nothing is
// granted that could write.
func TestLabNoGrants(t *testing.T) {
	needLab(t)
	ctx := context.Background()
	svc := &datastore.Service{Endpoint: labEndpoint(lab.PGOpen), Engine: "postgresql", Protocol: "postgres", Auth: datastore.AuthNone, User: "analyst"}
	sess, err := Driver{}.Open(ctx, svc, labTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	p, err := sess.Privileges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Capabilities {
		if c.Granted != datastore.No {
			t.Errorf("analyst: %s = %v, want no (%s)", c.ID, c.Granted, c.Evidence)
		}
	}
	if p.Readonly != datastore.Yes {
		t.Errorf("analyst: Readonly = %v, want yes", p.Readonly)
	}
	inv, err := sess.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb := findTable(inv, lab.SQLDatabase, "customers")
	if tb == nil || tb.Rows != lab.CustomersRows || len(tb.Truncation) == 0 || !strings.Contains(tb.Truncation[0], "not readable") {
		t.Fatalf("analyst's customers = %+v, want listed with its size, marked not readable", tb)
	}
	rows, err := sess.Sample(ctx, *tb, labLimits())
	if err != nil || len(rows.Values) != 0 || rows.ReadBytes != 0 {
		t.Errorf("Sample(customers) as analyst = %d rows, %d bytes, %v; want nothing read", len(rows.Values), rows.ReadBytes, err)
	}
}

// TestLabNoPasswordFromEnvironment opens the locked server with the
// operator's environment holding its real password: the session must
// not send it (nor any other), so it fails, and the server logs no
// failed password.
func TestLabNoPasswordFromEnvironment(t *testing.T) {
	needLab(t)
	t.Setenv("PGPASSWORD", lab.PGLocked.Password)
	t.Setenv("PGUSER", "app")
	svc := &datastore.Service{Endpoint: labEndpoint(lab.PGLocked), Engine: "postgresql", Auth: datastore.AuthNone, User: "postgres"}
	sess, err := Driver{}.Open(context.Background(), svc, labTimeout)
	if err == nil {
		sess.Close()
		t.Fatal("Open(the locked server) succeeded: a password from the environment was sent")
	}
	if !strings.Contains(err.Error(), "require_auth") {
		t.Errorf("Open(the locked server) = %v, want the password request refused on our side", err)
	}
	svc.Auth = datastore.AuthRequired
	if _, err := (Driver{}).Open(context.Background(), svc, labTimeout); err == nil {
		t.Error("Open(a service whose auth is required) succeeded")
	}
}

// TestLabWindow reads back a value whose keyword lies past valueByteCap:
// the head and a window around the keyword come back, the keyword in it.
func TestLabWindow(t *testing.T) {
	needLab(t)
	ctx := context.Background()
	svc, err := Driver{}.Probe(ctx, labEndpoint(lab.PGOpen), datastore.FirstLook{}, labTimeout)
	if err != nil || svc == nil {
		t.Fatal(svc, err)
	}
	c, err := connect(ctx, svc, "postgres", labTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, n := range []int{10, 5000, 100000} {
		res, err := c.query(ctx, fmt.Sprintf("SELECT %s FROM (SELECT repeat('x', %d) || 'sk-proj-TOKEN' || repeat('y', 50000) AS c0, 'sk-proj-'::text AS v) k", windows(1), n), labTimeout, 2, 1<<20)
		if err != nil || len(res.rows) != 1 {
			t.Fatalf("window query: %v", err)
		}
		v := res.rows[0][0]
		if !strings.Contains(v, "sk-proj-TOKEN") || len(v) > valueByteCap {
			t.Errorf("keyword at byte %d: %d bytes read back, keyword there %v; want it, within %d bytes", n, len(v), strings.Contains(v, "sk-proj-TOKEN"), valueByteCap)
		}
	}
}
