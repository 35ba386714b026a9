package mysql

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// grantServer is a fake whose SHOW GRANTS and @@secure_file_priv answer
// as given; every other statement is answered OK.
func grantServer(t *testing.T, greet []byte, grants map[string][]string, sfp *string) *fakeServer {
	return startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, greet)
		if !f.acceptLogin(c) {
			return
		}
		serveQueries(c, func(sql string, c *fakeConn) bool {
			switch {
			case strings.HasPrefix(sql, "SHOW GRANTS"):
				var rows [][]*string
				for _, l := range grants[sql] {
					rows = append(rows, []*string{str(l)})
				}
				c.writeResult([]string{"Grants"}, rows)
			case sql == "SELECT @@secure_file_priv":
				c.writeResult([]string{"@@secure_file_priv"}, [][]*string{{sfp}})
			default:
				return false
			}
			return true
		})
	})
}

func openFake(t *testing.T, f *fakeServer) *Session {
	t.Helper()
	svc, err := Driver{}.Probe(context.Background(), f.endpoint(), datastore.FirstLook{}, 3*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe = %+v, %v, want open", svc, err)
	}
	s, err := open(context.Background(), svc, 3*time.Second)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFileCapabilityByFlavour: secure_file_priv NULL leaves FILE
// unrestricted on MariaDB and disables it on MySQL.
func TestFileCapabilityByFlavour(t *testing.T) {
	grants := map[string][]string{"SHOW GRANTS": {"GRANT SELECT, FILE ON *.* TO `app`@`%`"}}
	for _, tc := range []struct {
		name  string
		greet []byte
		sfp   *string
		want  datastore.Verdict
	}{
		{"MariaDB NULL", mariaGreeting, nil, datastore.Yes},
		{"MySQL 8 NULL", mysql8Greeting, nil, datastore.No},
		{"MySQL 8 empty", mysql8Greeting, str(""), datastore.Yes},
		{"MariaDB directory", mariaGreeting, str("/var/lib/mysql-files/"), datastore.No},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openFake(t, grantServer(t, tc.greet, grants, tc.sfp))
			p, err := s.Privileges(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			c := capability(p, "FILE")
			if c.Granted != tc.want || c.Impact != datastore.ImpactReadFiles {
				t.Errorf("FILE = %v (%s), want %v", c.Granted, c.Evidence, tc.want)
			}
			wantDialect := datastore.DialectICU
			if strings.Contains(string(tc.greet), "MariaDB") {
				wantDialect = datastore.DialectPCRE
			}
			if pd := s.Pushdown(); pd.Regex != wantDialect || !pd.Substring || !pd.Counts {
				t.Errorf("Pushdown = %+v, want substring, counts and regex %q", pd, wantDialect)
			}
			if p.Readonly != datastore.Yes || capability(p, "WRITE").Granted != datastore.No {
				t.Errorf("Readonly = %v, WRITE = %v, want a read-only user", p.Readonly, capability(p, "WRITE").Granted)
			}
		})
	}
}

// TestRoleGrantsCount: what a role grants counts (USER_PRIVILEGES would
// miss it), and the role's name reaches the query re-quoted.
func TestRoleGrantsCount(t *testing.T) {
	grants := map[string][]string{
		"SHOW GRANTS":                       {"GRANT USAGE ON *.* TO `app`@`%`", "GRANT `wr``iter` TO `app`@`%`"},
		"SHOW GRANTS FOR `wr``iter`":        {"GRANT INSERT, UPDATE ON `shop`.* TO `wr``iter`", "GRANT `admins` TO `wr``iter`"},
		"SHOW GRANTS FOR `admins`":          {"GRANT SUPER, CREATE USER ON *.* TO `admins`"},
		"SHOW GRANTS FOR `x`; DROP TABLE t": {"GRANT ALL PRIVILEGES ON *.* TO x"},
	}
	s := openFake(t, grantServer(t, mariaGreeting, grants, nil))
	p, err := s.Privileges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]datastore.Verdict{"WRITE": datastore.Yes, "SUPER": datastore.Yes, "CREATE USER": datastore.Yes, "FILE": datastore.No} {
		if c := capability(p, id); c.Granted != want {
			t.Errorf("%s = %v (%s), want %v", id, c.Granted, c.Evidence, want)
		}
	}
	if p.Readonly != datastore.No {
		t.Errorf("Readonly = %v, want no", p.Readonly)
	}
}

// TestPrivilegesUnknownWhenGrantsFail: no answer settles nothing.
func TestPrivilegesUnknownWhenGrantsFail(t *testing.T) {
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mariaGreeting)
		if !f.acceptLogin(c) {
			return
		}
		serveQueries(c, func(sql string, c *fakeConn) bool {
			if strings.HasPrefix(sql, "SHOW GRANTS") {
				c.write(1, errPacket(1142, "42000", "SHOW command denied"))
				return true
			}
			return false
		})
	})
	s := openFake(t, f)
	p, err := s.Privileges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Readonly != datastore.Unknown {
		t.Errorf("Readonly = %v, want unknown", p.Readonly)
	}
	for _, c := range p.Capabilities {
		if c.Granted != datastore.Unknown || !strings.Contains(c.Evidence, "1142") {
			t.Errorf("%s = %v (%s), want unknown naming the error", c.ID, c.Granted, c.Evidence)
		}
	}
}

func TestParseGrant(t *testing.T) {
	for _, tc := range []struct {
		line  string
		privs []string
		on    string
		roles []string
		opt   bool
	}{
		{"GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION", []string{"ALL PRIVILEGES"}, "*.*", nil, true},
		{"GRANT SELECT (a, b), INSERT ON `db`.`t` TO 'u'@'h'", []string{"SELECT", "INSERT"}, "`db`.`t`", nil, false},
		{"GRANT EXECUTE ON PROCEDURE `db`.`p` TO `u`@`%`", []string{"EXECUTE"}, "`db`.`p`", nil, false},
		{"GRANT `r1`,`r2`@`%` TO `u`@`%`", nil, "", []string{"`r1`", "`r2`@`%`"}, false},
		{"GRANT SYSTEM_VARIABLES_ADMIN,BACKUP_ADMIN ON *.* TO `u`@`%`", []string{"SYSTEM_VARIABLES_ADMIN", "BACKUP_ADMIN"}, "*.*", nil, false},
	} {
		g, ok := parseGrant(tc.line)
		if !ok || strings.Join(g.privs, "|") != strings.Join(tc.privs, "|") || g.on != tc.on || strings.Join(g.roles, "|") != strings.Join(tc.roles, "|") || g.grantOption != tc.opt {
			t.Errorf("parseGrant(%q) = %+v, %v", tc.line, g, ok)
		}
	}
	if q, ok := requoteRole("`a``b`@'%'"); !ok || q != "`a``b`@`%`" {
		t.Errorf("requoteRole = %q, %v", q, ok)
	}
	if _, ok := requoteRole("`x`; DROP TABLE t"); ok {
		t.Error("requoteRole accepted a name no server prints")
	}
}

func TestQuoting(t *testing.T) {
	if got := quoteIdent("we`ird\\name"); got != "`we``ird\\name`" {
		t.Errorf("quoteIdent = %s", got)
	}
	if got := hexLit("a'\\"); got != "X'61275c'" {
		t.Errorf("hexLit = %s", got)
	}
}

func capability(p datastore.Privileges, id string) datastore.Capability {
	for _, c := range p.Capabilities {
		if c.ID == id {
			return c
		}
	}
	return datastore.Capability{}
}

// TestSampleSkipsRemoteAndViews: a FEDERATED table or a view is named in
// the inventory, never read: Sample sends the server nothing for it.
func TestSampleSkipsRemoteAndViews(t *testing.T) {
	var selects int
	var mu sync.Mutex
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mariaGreeting)
		if !f.acceptLogin(c) {
			return
		}
		serveQueries(c, func(sql string, c *fakeConn) bool {
			if !strings.HasPrefix(sql, "SET ") {
				mu.Lock()
				selects++
				mu.Unlock()
			}
			return false
		})
	})
	s := openFake(t, f)
	cols := []datastore.Column{{Name: "note", Type: "text"}}
	for _, tb := range []datastore.Table{
		{Database: "d", Name: "remote", Kind: "table", Engine: "FEDERATED", Columns: cols},
		{Database: "d", Name: "conn", Kind: "table", Engine: "CONNECT", Columns: cols},
		{Database: "d", Name: "v", Kind: "view", Columns: cols},
		{Database: "d", Name: "nums", Kind: "table", Engine: "InnoDB", Columns: []datastore.Column{{Name: "n", Type: "bigint(20)"}}},
	} {
		rows, err := s.Sample(context.Background(), tb, datastore.Limits{Rows: 3, Random: 5, Keywords: []string{"sk-"}})
		if err != nil || len(rows.Values) != 0 {
			t.Errorf("Sample(%s) = %d rows, %v; want none", tb.Name, len(rows.Values), err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if selects != 0 {
		t.Errorf("%d statements sent for tables that must not be read", selects)
	}
}

// A server too old for a statement time limit (MySQL before 5.7.8 answers
// 1193, unknown system variable) is still assessed, under our own
// deadlines, and the evidence says so.
func TestOpenWithoutServerTimeLimit(t *testing.T) {
	old := greetingPacket("5.6.51", mysqlCaps, "mysql_native_password")
	var mu sync.Mutex
	var seen []string
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, old)
		if !f.acceptLogin(c) {
			return
		}
		serveQueries(c, func(sql string, c *fakeConn) bool {
			mu.Lock()
			seen = append(seen, sql)
			mu.Unlock()
			switch {
			case strings.Contains(sql, "max_execution_time"):
				c.write(1, errPacket(1193, "HY000", "Unknown system variable 'max_execution_time'"))
			case strings.HasPrefix(sql, "SHOW GRANTS"):
				c.writeResult([]string{"Grants"}, [][]*string{{str("GRANT SELECT ON *.* TO `root`@`%`")}})
			case sql == "SELECT @@secure_file_priv":
				c.writeResult([]string{"@@secure_file_priv"}, [][]*string{{nil}})
			default:
				return false
			}
			return true
		})
	})
	s := openFake(t, f)
	if !s.noServerLimit {
		t.Error("Open on a server without max_execution_time: noServerLimit = false, want true")
	}
	if q := s.limited("SELECT 1", time.Millisecond); q != "SELECT 1" {
		t.Errorf("limited on a server without a time limit = %q, want the query unchanged", q)
	}
	p, err := s.Privileges(context.Background())
	if err != nil {
		t.Fatalf("Privileges = %v", err)
	}
	if !strings.Contains(strings.Join(p.Evidence, "\n"), "no statement time limit") {
		t.Errorf("Privileges evidence = %q, want it to say the server has no time limit", p.Evidence)
	}
}

// A table whose row estimate is stale (TABLE_ROWS can be a day old) is
// searched only up to the search window: its counts say so, rather than
// passing for the whole table's.
func TestSampleSaysWhenTheEstimateWasLow(t *testing.T) {
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mariaGreeting)
		if !f.acceptLogin(c) {
			return
		}
		serveQueries(c, func(sql string, c *fakeConn) bool {
			if strings.Contains(sql, "SELECT COUNT(*), SUM(") {
				c.writeResult([]string{"n", "k"}, [][]*string{{str("20000"), str("3")}})
				return true
			}
			return false
		})
	})
	s := openFake(t, f)
	tb := datastore.Table{Database: "app", Name: "logs", Kind: "table", Engine: "InnoDB", Rows: 5,
		Columns: []datastore.Column{{Name: "prompt", Type: "text"}}}
	rows, _ := s.Sample(context.Background(), tb, datastore.Limits{Keywords: []string{"sk-"}, Rows: 2, Timeout: time.Second})
	if !strings.Contains(strings.Join(rows.Truncation, "\n"), "holds more than its estimate") {
		t.Errorf("Sample of a table estimated at 5 rows whose search read 20000: truncation %q, want it to say the counts cover the search window only", rows.Truncation)
	}
}
