package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
)

// needSQLLab skips unless the lab is enabled and the server's directory
// exists (scripts/lab up postgresql mariadb makes it): a lab brought up
// for ClickHouse only has none.
func needSQLLab(t *testing.T, name string) {
	t.Helper()
	if !Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set (scripts/test brings the lab up)")
	}
	if _, err := os.Stat(filepath.Join(Dir(), name)); err != nil {
		t.Skipf("%s is not set up in %s (scripts/lab up postgresql mariadb)", name, Dir())
	}
}

// tcpPsql runs sql through psql over TCP as user, the way anyone on the
// network would: no password unless given, nothing from the environment.
func tcpPsql(t *testing.T, s PGServer, user, password, sslmode, db, sql string) (string, error) {
	t.Helper()
	bin, err := pgBin("psql")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s connect_timeout=5", s.Host, s.Port, user, db, sslmode)
	cmd := exec.CommandContext(ctx, bin, "-X", "-w", "-A", "-t", "-q", conn, "-c", sql)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PGPASSFILE=/nonexistent"}
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// tcpMariaDB runs sql through the mariadb client over TCP as user.
func tcpMariaDB(t *testing.T, s MariaDBServer, user, password, sql string) (string, error) {
	t.Helper()
	bin, err := mariadbBin("mariadb", "mysql")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--no-defaults", "--protocol=TCP", "-h", s.Host, "-P", strconv.Itoa(s.Port),
		"-u", user, "--batch", "--skip-column-names", "--connect-timeout=5", "-e", sql)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if password != "" {
		cmd.Env = append(cmd.Env, "MYSQL_PWD="+password)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func TestSQLServersAreTheLabs(t *testing.T) {
	ctx := context.Background()
	for _, s := range PGServers {
		t.Run(s.Name, func(t *testing.T) {
			needSQLLab(t, s.Name)
			if err := s.Verify(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, s := range MariaDBServers {
		t.Run(s.Name, func(t *testing.T) {
			needSQLLab(t, s.Name)
			if err := s.Verify(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPGOpenNeedsNoPassword(t *testing.T) {
	needSQLLab(t, PGOpen.Name)
	for _, u := range PGUsers {
		if _, err := tcpPsql(t, PGOpen, u, "", "disable", SQLDatabase, "SELECT 1"); err != nil {
			t.Errorf("%s as %s with no password: %v", PGOpen.Host, u, err)
		}
	}
	want := map[string]int{"chat_logs": ChatLogsRows, "conversations": ConversationsRows, "customers": CustomersRows,
		"integrations": IntegrationsRows, InjectionTable: 1, DoubleQuoteTable: 1, BacktickTable: 1, EscapeTable: 1, PGLongTable: 1}
	for table, n := range want {
		got, err := tcpPsql(t, PGOpen, "postgres", "", "disable", SQLDatabase, "SELECT count(*) FROM "+pgIdent(table))
		if err != nil || got != strconv.Itoa(n) {
			t.Errorf("count of %q as postgres: %q, %v; want %d", table, got, err, n)
		}
	}
	// Planted secrets: one row in 400.
	got, err := tcpPsql(t, PGOpen, "postgres", "", "disable", SQLDatabase, "SELECT count(*) FROM chat_logs WHERE id % 400 = 200 AND detail <> ''")
	if err != nil || got != strconv.Itoa(ChatLogsRows/400) {
		t.Errorf("chat_logs rows with a secret: %q, %v; want %d", got, err, ChatLogsRows/400)
	}
	stamp, _ := PGOpen.sql().stamp()
	if got, err := tcpPsql(t, PGOpen, "app", "", "disable", "postgres", "SELECT value FROM "+StampSchema+".stamp"); err != nil || got != stamp {
		t.Errorf("stamp over TCP: %q, %v; want %q", got, err, stamp)
	}
	// analyst sees the inventory, not the data.
	if _, err := tcpPsql(t, PGOpen, "analyst", "", "disable", SQLDatabase, "SELECT count(*) FROM customers"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("analyst reading customers: %v; want permission denied", err)
	}
}

func TestPGRefusals(t *testing.T) {
	cases := []struct {
		s                  PGServer
		password, sslmode  string
		wantErr, wantLogin string
	}{
		{PGLocked, "", "disable", "no password supplied", ""},
		// 28P01 comes back only once a password is sent.
		{PGLocked, "wrong-password", "disable", `password authentication failed for user "postgres"`, ""},
		{PGLocked, PGLocked.Password, "disable", "", strconv.Itoa(CustomersRows)},
		{PGRestricted, "", "disable", `no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "aiapp", no encryption`, ""},
		{PGTLS, "", "disable", `no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "aiapp", no encryption`, ""},
		{PGTLS, "", "require", "", strconv.Itoa(CustomersRows)},
	}
	for _, c := range cases {
		t.Run(c.s.Name+"/"+c.sslmode+"/"+strconv.FormatBool(c.password != ""), func(t *testing.T) {
			needSQLLab(t, c.s.Name)
			got, err := tcpPsql(t, c.s, "postgres", c.password, c.sslmode, SQLDatabase, "SELECT count(*) FROM customers")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.wantLogin {
				t.Fatalf("got %q, %v; want %q", got, err, c.wantLogin)
			}
		})
	}
}

func TestMariaDBOpenNeedsNoPassword(t *testing.T) {
	needSQLLab(t, MariaDBOpen.Name)
	for _, u := range MariaDBUsers {
		got, err := tcpMariaDB(t, MariaDBOpen, u, "", "SELECT count(*) FROM aiapp.customers")
		if err != nil || got != strconv.Itoa(CustomersRows) {
			t.Errorf("%s as %s with no password: %q, %v", MariaDBOpen.Host, u, got, err)
		}
		// FILE with an unset secure_file_priv: the server's files are readable.
		grants, err := tcpMariaDB(t, MariaDBOpen, u, "", "SHOW GRANTS")
		if err != nil || !(strings.Contains(grants, "GRANT FILE ON") || strings.Contains(grants, "GRANT ALL PRIVILEGES ON *.*")) {
			t.Errorf("grants of %s: %q, %v; want FILE", u, grants, err)
		}
	}
	if got, err := tcpMariaDB(t, MariaDBOpen, "root", "", "SELECT @@secure_file_priv IS NULL"); err != nil || got != "1" {
		t.Errorf("secure_file_priv unset: %q, %v", got, err)
	}
	want := map[string]int{"chat_logs": ChatLogsRows, "conversations": ConversationsRows, "integrations": IntegrationsRows,
		InjectionTable: 1, DoubleQuoteTable: 1, BacktickTable: 1, EscapeTable: 1, MariaDBLongTable: 1}
	for table, n := range want {
		got, err := tcpMariaDB(t, MariaDBOpen, "root", "", "SELECT count(*) FROM aiapp."+myIdent(table))
		if err != nil || got != strconv.Itoa(n) {
			t.Errorf("count of %q as root: %q, %v; want %d", table, got, err, n)
		}
	}
	stamp, _ := MariaDBOpen.sql().stamp()
	if got, err := tcpMariaDB(t, MariaDBOpen, "root", "", "SELECT value FROM "+StampSchema+".stamp"); err != nil || got != stamp {
		t.Errorf("stamp: %q, %v; want %q", got, err, stamp)
	}
}

func TestMariaDBRefusals(t *testing.T) {
	cases := []struct {
		s                  MariaDBServer
		user, password     string
		wantErr, wantLogin string
	}{
		{MariaDBLocked, "root", "", "ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1' (using password: NO)", ""},
		{MariaDBLocked, "app", "", "ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: NO)", ""},
		{MariaDBLocked, "app", MariaDBLocked.Password, "", strconv.Itoa(CustomersRows)},
		// 1130 comes in the server's first packet, before any login.
		{MariaDBRestricted, "root", "", "1130 - Host '127.0.0.1' is not allowed to connect to this MariaDB server", ""},
	}
	for _, c := range cases {
		t.Run(c.s.Name+"/"+c.user+"/"+strconv.FormatBool(c.password != ""), func(t *testing.T) {
			needSQLLab(t, c.s.Name)
			got, err := tcpMariaDB(t, c.s, c.user, c.password, "SELECT count(*) FROM aiapp.customers")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.wantLogin {
				t.Fatalf("got %q, %v; want %q", got, err, c.wantLogin)
			}
		})
	}
}

func TestClickHouseServersAreTheLabs(t *testing.T) {
	for _, s := range Servers {
		t.Run(s.Name, func(t *testing.T) {
			if !Enabled() {
				t.Skip("LEAKHOUND_LAB=1 not set")
			}
			if _, err := os.Stat(filepath.Join(s.dir(), "pid")); err != nil {
				t.Skipf("no ClickHouse lab in %s", Dir())
			}
			if err := s.Verify(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyNamesAForeignServer needs no lab: a listener of this test
// process stands in for someone else's server on a lab address.
func TestVerifyNamesAForeignServer(t *testing.T) {
	t.Setenv("LEAKHOUND_LAB_DIR", t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pg := PGServer{Name: "pg-foreign", Host: "127.0.0.1", Port: port}
	my := MariaDBServer{Name: "my-foreign", Host: "127.0.0.1", Port: port}
	ch := Server{Name: "ch-foreign", Host: "127.0.0.1", HTTPPort: port, NativePort: port}
	// A pid file naming another process must not make it the lab's either.
	os.MkdirAll(filepath.Join(my.dir()), 0o755)
	os.WriteFile(filepath.Join(my.dir(), "pid"), []byte("1\n"), 0o644)
	for name, verify := range map[string]func(context.Context) error{"postgresql": pg.Verify, "mariadb": my.Verify, "clickhouse": ch.Verify} {
		err := verify(context.Background())
		if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Errorf("%s: Verify of a server this test runs: %v; want ErrForeign naming pid %d", name, err, os.Getpid())
		}
	}
	if err := checkFree("127.0.0.1", port); !errors.Is(err, ErrForeign) {
		t.Errorf("checkFree on a taken port: %v", err)
	}
	ln.Close()
	if err := pg.Verify(context.Background()); err == nil || errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "nothing listens") {
		t.Errorf("Verify with nothing listening: %v; want \"nothing listens\"", err)
	}
}

func TestProcIP(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0800007F", "127.0.0.8"},
		{"00000000", "0.0.0.0"},
		{"00000000000000000000000000000000", "::"},
		{"0000000000000000FFFF00000F00007F", "127.0.0.15"},
	} {
		if got := procIP(c.in); got.String() != c.want {
			t.Errorf("procIP(%s) = %v, want %s", c.in, got, c.want)
		}
	}
	if procIP("zz") != nil {
		t.Error("procIP of junk is not nil")
	}
}

// TestSQLSeedIsDetectable checks the relational seed against the engine,
// without a server: every kind planted is found in the rows as written.
func TestSQLSeedIsDetectable(t *testing.T) {
	e := classify.Default()
	found := map[string]bool{}
	tables := append(append(smallTables(), hostileTables(PGLongTable)...), chatLogs())
	for _, tb := range tables {
		n := 0
		tb.rows(func(row []string) {
			n++
			if len(row) != len(tb.cols) {
				t.Fatalf("%s: row of %d fields for %d columns", tb.name, len(row), len(tb.cols))
			}
			for _, d := range e.Scan(strings.Join(row, "\n")) {
				found[d.Kind] = true
			}
		})
		if tb.name != "chat_logs" && n != tb.n {
			t.Errorf("%s: %d rows, want %d", tb.name, n, tb.n)
		}
	}
	for _, k := range append(append([]string(nil), SecretKinds...), PIIKinds...) {
		if !found[k] {
			t.Errorf("no %s found in the relational seed; found %v", k, found)
		}
	}
	if len(PGLongTable) != 63 || len([]rune(MariaDBLongTable)) != 64 {
		t.Errorf("long names: %d bytes, %d characters; want 63 (NAMEDATALEN-1) and 64", len(PGLongTable), len([]rune(MariaDBLongTable)))
	}
}

// TestUpKeepsNoForeignClickHouse needs no lab: an HTTP server of this test
// answers every query as ClickHouse would, on the address of a lab server.
// Up must refuse it rather than keep it as the lab's and seed it.
func TestUpKeepsNoForeignClickHouse(t *testing.T) {
	t.Setenv("LEAKHOUND_LAB_DIR", t.TempDir())
	var writes []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("query"); !strings.HasPrefix(q, "SELECT") {
			mu.Lock()
			writes = append(writes, q)
			mu.Unlock()
		}
		io.WriteString(w, "1\n")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	s := Server{Name: "foreign", Host: "127.0.0.1", HTTPPort: port, NativePort: port}
	err := s.start(context.Background(), t.Logf)
	if !errors.Is(err, ErrForeign) {
		t.Errorf("start with someone else's server answering: %v; want ErrForeign", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) > 0 {
		t.Errorf("start sent %q to someone else's server", writes)
	}
}
