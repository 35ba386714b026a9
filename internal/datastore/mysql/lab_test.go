package mysql

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

func requireLab(t *testing.T) {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("the lab is not up: LEAKHOUND_LAB=1 with scripts/lab running")
	}
}

func labEndpoint(s lab.MariaDBServer) datastore.Endpoint {
	return datastore.Endpoint{Host: s.Host, IP: net.ParseIP(s.Host), Port: s.Port}
}

func TestLabProbe(t *testing.T) {
	requireLab(t)
	for _, tc := range []struct {
		srv  lab.MariaDBServer
		auth datastore.Auth
		code int
	}{
		{lab.MariaDBOpen, datastore.AuthNone, 0},
		{lab.MariaDBLocked, datastore.AuthRequired, 1045},
		{lab.MariaDBRestricted, datastore.AuthIPRestricted, 1130},
	} {
		t.Run(tc.srv.Name, func(t *testing.T) {
			svc, err := Driver{}.Probe(context.Background(), labEndpoint(tc.srv), datastore.FirstLook{}, 5*time.Second)
			if err != nil || svc == nil {
				t.Fatalf("Probe(%s) = %v, %v, want a service", tc.srv.Host, svc, err)
			}
			if svc.Auth != tc.auth || svc.AuthCode != tc.code {
				t.Errorf("Probe(%s) auth = %s (code %d: %s), want %s (code %d)", tc.srv.Host, svc.Auth, svc.AuthCode, svc.AuthMessage, tc.auth, tc.code)
			}
			if svc.DisplayName != "MariaDB" {
				t.Errorf("Probe(%s) DisplayName = %q, want MariaDB", tc.srv.Host, svc.DisplayName)
			}
			if tc.auth == datastore.AuthNone && (svc.User != "root" || !strings.HasPrefix(svc.Version, "10.") || svc.TLS) {
				t.Errorf("Probe(%s) = user %q version %q tls %v, want root, 10.x (5.5.5- stripped), plaintext", tc.srv.Host, svc.User, svc.Version, svc.TLS)
			}
		})
	}
}

// labSnapshot is what the lab's admin sees of the open server's data,
// schema and settings; a full assessment must leave it unchanged.
func labSnapshot(t *testing.T) string {
	t.Helper()
	out, err := lab.MariaDBOpen.Admin(context.Background(), `
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, CREATE_OPTIONS FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ('information_schema','performance_schema') ORDER BY 1, 2;
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'aiapp' ORDER BY 1, 2, 3;
SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, ts, service, model, prompt, detail))) FROM aiapp.chat_logs;
SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, name, email, phone, national_id, card_number))) FROM aiapp.customers;
SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, provider, config, connection_string))) FROM aiapp.integrations;
SELECT User, Host, Password, plugin, authentication_string FROM mysql.user ORDER BY 1, 2;
SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES ORDER BY 1;`)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// labLimits are the scan's limits for the default rules.
func labLimits(e *classify.Engine) datastore.Limits {
	kws, pats := e.Pushdown()
	lim := datastore.Limits{Rows: 3, Random: 5, Bytes: 16 << 20, Keywords: append(kws, classify.ChatKeywords()...), Patterns: pats, Exact: map[string]datastore.Match{}}
	for _, r := range e.Rules() {
		if len(r.Keywords) > 0 {
			lim.Exact["rule:"+r.ID] = datastore.Match{Keywords: r.Keywords, Pattern: r.Pattern}
		}
	}
	return lim
}

// assessment is one full assessment of the open server, as the scan runs
// it: probe, open, identity, privileges, inventory, a sample of every table.
type assessment struct {
	svc    *datastore.Service
	id     datastore.ServerID
	priv   datastore.Privileges
	inv    datastore.Inventory
	rows   map[string]datastore.Rows
	remedy []string
}

func assess(t *testing.T, e *classify.Engine) assessment {
	t.Helper()
	ctx := context.Background()
	var a assessment
	var err error
	a.svc, err = Driver{}.Probe(ctx, labEndpoint(lab.MariaDBOpen), datastore.FirstLook{}, 5*time.Second)
	if err != nil || a.svc == nil || a.svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe = %+v, %v, want an open service", a.svc, err)
	}
	sess, err := open(ctx, a.svc, 20*time.Second)
	if err != nil {
		t.Fatalf("Open = %v", err)
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
	lim := labLimits(e)
	for _, db := range a.inv.Databases {
		if db.System {
			continue
		}
		for _, tb := range db.Tables {
			rows, err := sess.Sample(ctx, tb, lim)
			if err != nil {
				t.Errorf("Sample(%s) = %v", tb.QualifiedName(), err)
			}
			a.rows[tb.QualifiedName()] = rows
		}
	}
	a.remedy = sess.Remediation(a.priv)
	return a
}

func TestLabAssessment(t *testing.T) {
	requireLab(t)
	key, err := classify.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e := classify.Default().WithKey(key)
	before := labSnapshot(t)
	var took []time.Duration
	var a assessment
	for range 3 {
		start := time.Now()
		a = assess(t, e)
		took = append(took, time.Since(start))
	}
	if after := labSnapshot(t); after != before {
		t.Errorf("the server's data, schema or settings changed during the assessment")
	}
	slices.Sort(took)
	t.Logf("full assessment of %s: median %s of 3 (%v)", lab.MariaDBOpen.Host, took[1].Round(time.Millisecond), took)

	if a.id.Engine != "mysql" || !strings.HasPrefix(a.id.Key, lab.MariaDBOpen.Host+"|") || a.id.Started.IsZero() {
		t.Errorf("ServerID = %+v, want engine mysql, key address|host|port|datadir, a start time", a.id)
	}
	for id, want := range map[string]datastore.Verdict{"FILE": datastore.Yes, "SUPER": datastore.Yes, "CREATE USER": datastore.Yes, "WRITE": datastore.Yes} {
		if c := capability(a.priv, id); c.Granted != want {
			t.Errorf("capability %s = %v (%s), want %v", id, c.Granted, c.Evidence, want)
		}
	}
	if c := capability(a.priv, "FILE"); !strings.Contains(c.Evidence, "NULL") {
		t.Errorf("FILE evidence = %q, want secure_file_priv NULL named", c.Evidence)
	}
	if a.priv.Readonly != datastore.No {
		t.Errorf("Readonly = %v, want no (root may write)", a.priv.Readonly)
	}
	var aiapp *datastore.Database
	var sys []string
	for i, db := range a.inv.Databases {
		if db.Name == lab.SQLDatabase {
			aiapp = &a.inv.Databases[i]
		}
		if db.System {
			sys = append(sys, db.Name)
			if len(db.Tables) > 0 {
				t.Errorf("system database %s lists its tables", db.Name)
			}
		}
	}
	if aiapp == nil {
		t.Fatalf("inventory has no %s: %+v", lab.SQLDatabase, a.inv.Databases)
	}
	if !slices.Contains(sys, "mysql") {
		t.Errorf("system databases = %v, want mysql among them", sys)
	}
	byName := map[string]datastore.Table{}
	for _, tb := range aiapp.Tables {
		byName[tb.Name] = tb
	}
	for _, name := range []string{"conversations", "customers", "integrations", "chat_logs", lab.InjectionTable, lab.BacktickTable, lab.EscapeTable, lab.MariaDBLongTable} {
		if _, ok := byName[name]; !ok {
			t.Errorf("inventory of %s lacks table %q", lab.SQLDatabase, name)
		}
	}
	cl := byName["chat_logs"]
	if cl.Rows < lab.ChatLogsRows*8/10 || cl.Rows > lab.ChatLogsRows*12/10 || cl.RowsExact || cl.Engine != "InnoDB" || cl.Kind != "table" || cl.Bytes <= 0 {
		t.Errorf("chat_logs = rows %d (exact %v) bytes %d engine %q kind %q, want about %d estimated, InnoDB table with bytes", cl.Rows, cl.RowsExact, cl.Bytes, cl.Engine, cl.Kind, lab.ChatLogsRows)
	}
	found := map[string][]string{}
	for name, rows := range a.rows {
		for _, r := range rows.Values {
			for _, v := range r {
				for _, d := range e.Scan(v) {
					if !slices.Contains(found[name], d.Kind) {
						found[name] = append(found[name], d.Kind)
					}
				}
			}
		}
	}
	for _, tb := range []string{"chat_logs", "integrations", "customers", "conversations"} {
		if len(found[lab.SQLDatabase+"."+tb]) == 0 {
			t.Errorf("no seeded secret or personal data found in %s (truncation %q)", tb, a.rows[lab.SQLDatabase+"."+tb].Truncation)
		}
	}
	if len(found[lab.SQLDatabase+"."+lab.InjectionTable]) == 0 {
		t.Errorf("the secret in table %q was not found", lab.InjectionTable)
	}
	r := a.rows[lab.SQLDatabase+".chat_logs"]
	t.Logf("chat_logs: %d rows, %d bytes read back of %d rows (%.3f%%); kinds %v; counts of %d keys; truncation %q",
		r.ReadRows, r.ReadBytes, cl.Rows, 100*float64(r.ReadRows)/float64(max(cl.Rows, 1)), found[lab.SQLDatabase+".chat_logs"], len(r.Counts), r.Truncation)
	if r.ReadRows*100 >= lab.ChatLogsRows {
		t.Errorf("chat_logs: %d rows read back, want under 1%% of %d", r.ReadRows, lab.ChatLogsRows)
	}
	if n := r.Counts["sk-proj-"]; n < 100 {
		t.Errorf("chat_logs count of sk-proj- = %d, want the server's count over the table", n)
	}
	if len(a.remedy) == 0 || !strings.Contains(strings.Join(a.remedy, "\n"), "bind-address") {
		t.Errorf("Remediation = %q, want bind-address advice", a.remedy)
	}
}

// TestLabSampleTimeout: a Sample's per-query limit is the server's
// max_statement_time: the big table's searches are interrupted, named in
// the truncation, and the session still answers.
func TestLabSampleTimeout(t *testing.T) {
	requireLab(t)
	ctx := context.Background()
	svc, err := Driver{}.Probe(ctx, labEndpoint(lab.MariaDBOpen), datastore.FirstLook{}, 5*time.Second)
	if err != nil || svc == nil {
		t.Fatalf("Probe = %v, %v", svc, err)
	}
	s, err := open(ctx, svc, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl := datastore.Table{Database: lab.SQLDatabase, Name: "chat_logs", Kind: "table", Engine: "InnoDB", Rows: lab.ChatLogsRows,
		Columns: []datastore.Column{{Name: "prompt", Type: "text"}, {Name: "detail", Type: "text"}}}
	lim := labLimits(classify.Default())
	lim.Timeout = 50 * time.Millisecond
	start := time.Now()
	rows, err := s.Sample(ctx, cl, lim)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Sample = %v", err)
	}
	if !strings.Contains(strings.Join(rows.Truncation, "\n"), "1969") {
		t.Errorf("Sample truncation = %q, want the interrupted statements (1969) named", rows.Truncation)
	}
	t.Logf("Sample under a 50 ms statement limit took %s", took.Round(time.Millisecond))
	if _, _, err := s.one(ctx, "SELECT 1"); err != nil {
		t.Errorf("the session no longer answers: %v", err)
	}
}
