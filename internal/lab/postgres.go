package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PGServer is one PostgreSQL server of the lab: its own postmaster, data
// directory and unix socket under Dir()/Name, listening on Host:Port only.
// The flavours differ only in pg_hba.conf, which matches the client's
// address: a connection to 127.0.0.8 comes from 127.0.0.1, so each flavour
// needs a process of its own.
type PGServer struct {
	Name string
	Host string
	Port int
	// Method is pg_hba.conf's method for TCP clients (trust, scram-sha-256).
	Method string
	// Networks is the one client network TCP lines allow; "" is anywhere.
	Networks string
	// Password is every login role's password when Method asks for one.
	Password string
	// TLS turns ssl on and allows TCP clients over TLS only (hostssl): in
	// plaintext the server answers 28000 "no pg_hba.conf entry … no encryption".
	TLS bool
	// Full servers also hold chat_logs and the hostile names.
	Full bool
}

// The lab's PostgreSQL servers, all on 5432.
func init() {
	name := func(s PGServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }
	RegisterEngine(Engine{
		Name: EnginePostgres,
		Up: func(ctx context.Context, logf Logf) error {
			return upEach(ctx, logf, PGServers, name, PGServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, PGServers, func(s PGServer) string { return s.Name }, PGServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range PGServers {
				how := s.Method
				if s.Networks != "" {
					how += " from " + s.Networks + " only"
				}
				if s.TLS {
					how += ", TLS only"
				}
				fmt.Fprintf(w, "%-18s postgresql %s:%d (%s)  %s\n", s.Name, s.Host, s.Port, how, State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

var (
	// PGOpen trusts every TCP client: postgres and PGUsers log in with no password.
	PGOpen = PGServer{Name: "pg-open", Host: "127.0.0.8", Port: 5432, Method: "trust", Full: true}
	// PGLocked asks every role for a password (AuthenticationSASL).
	PGLocked = PGServer{Name: "pg-locked", Host: "127.0.0.10", Port: 5432, Method: "scram-sha-256", Password: "lab-locked-Pg41xv"}
	// PGRestricted has no pg_hba.conf line for 127.0.0.1: 28000 "no pg_hba.conf entry for host".
	PGRestricted = PGServer{Name: "pg-restricted", Host: "127.0.0.11", Port: 5432, Method: "trust", Networks: "192.0.2.10/32"}
	// PGTLS is open over TLS only, with a certificate the lab makes.
	PGTLS     = PGServer{Name: "pg-tls", Host: "127.0.0.15", Port: 5432, Method: "trust", TLS: true}
	PGServers = []PGServer{PGOpen, PGLocked, PGRestricted, PGTLS}
	// PGUsers are the login roles on every PostgreSQL server: postgres is a
	// superuser, app may read the product tables, analyst has no grants
	// (it sees the inventory in pg_class, not the data).
	PGUsers = []string{"postgres", "app", "analyst"}
)

// pgAdminUser is initdb's bootstrap superuser, reached only through the
// server's unix socket (pg_hba.conf: local all all trust).
const pgAdminUser = AdminUser

func (s PGServer) dir() string  { return filepath.Join(Dir(), s.Name) }
func (s PGServer) data() string { return filepath.Join(s.dir(), "data") }
func (s PGServer) sock() string { return filepath.Join(s.dir(), "sock") }

// pgBin finds a PostgreSQL program of the newest installed major version.
func pgBin(name string) (string, error) {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		return "", fmt.Errorf("PostgreSQL's %s is not in /usr/lib/postgresql/*/bin (scripts/install-deps installs it)", name)
	}
	sort.Slice(m, func(i, j int) bool { return pgMajor(m[i]) < pgMajor(m[j]) })
	return m[len(m)-1], nil
}

func pgMajor(path string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(path))), 64)
	return v
}

func (s PGServer) hba() string {
	var b strings.Builder
	b.WriteString("# Written by leakhound's lab.\nlocal all all trust\n")
	kind := "host"
	if s.TLS {
		kind = "hostssl"
	}
	nets := []string{"0.0.0.0/0", "::/0"}
	if s.Networks != "" {
		nets = []string{s.Networks}
	}
	for _, n := range nets {
		fmt.Fprintf(&b, "%s all all %s %s\n", kind, n, s.Method)
	}
	return b.String()
}

func (s PGServer) args() []string {
	a := []string{"-D", s.data(), "-c", "listen_addresses=" + s.Host, "-c", "port=" + strconv.Itoa(s.Port),
		"-c", "unix_socket_directories=" + s.sock(), "-c", "hba_file=" + filepath.Join(s.dir(), "pg_hba.conf"),
		"-c", "shared_buffers=16MB", "-c", "max_connections=40", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "cluster_name=leakhound-lab-" + s.Name,
		// A table created and filled in one transaction then writes no WAL:
		// the seed is faster and pg_wal stays small.
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0", "-c", "max_wal_size=96MB", "-c", "min_wal_size=32MB"}
	if s.TLS {
		a = append(a, "-c", "ssl=on", "-c", "ssl_cert_file="+filepath.Join(s.dir(), "server.crt"),
			"-c", "ssl_key_file="+filepath.Join(s.dir(), "server.key"))
	}
	return a
}

// runAs returns a command that runs as the system user name.
func runAs(name string, bin string, args ...string) (*exec.Cmd, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("system user %s (created by its Debian package): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	return cmd, nil
}

func chownTree(root, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("system user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// up starts s unless it runs, then seeds it unless it holds this seed.
func (s PGServer) up(ctx context.Context, logf Logf) error {
	if err := s.start(ctx, logf); err != nil {
		return err
	}
	return s.sql().seed(ctx, logf)
}

func (s PGServer) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		logf("%s: already running on %s:%d", s.Name, s.Host, s.Port)
		return nil
	}
	if err := checkFree(s.Host, s.Port); err != nil {
		return err
	}
	if err := os.MkdirAll(s.sock(), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.data(), "PG_VERSION")); err != nil {
		initdb, err := pgBin("initdb")
		if err != nil {
			return err
		}
		os.RemoveAll(s.data())
		if err := chownTree(s.dir(), "postgres"); err != nil {
			return err
		}
		cmd, err := runAs("postgres", initdb, "-D", s.data(), "-U", pgAdminUser, "--auth=trust", "--no-sync",
			"--no-instructions", "-E", "UTF8", "--locale=C.UTF-8")
		if err != nil {
			return err
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("initdb -D %s: %w: %s", s.data(), err, lastLines(out, 3))
		}
		if err := os.WriteFile(filepath.Join(s.dir(), "stamp"), []byte(randomStamp()+"\n"), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir(), "pg_hba.conf"), []byte(s.hba()), 0o644); err != nil {
		return err
	}
	if s.TLS {
		if err := writeSelfSigned(s.dir(), s.Host); err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
	}
	if err := chownTree(s.dir(), "postgres"); err != nil {
		return err
	}
	bin, err := pgBin("postgres")
	if err != nil {
		return err
	}
	return startAndWait(ctx, logf, s.Name, fmt.Sprintf("postgres on %s:%d", s.Host, s.Port), filepath.Join(s.dir(), "server.log"), "",
		func() (*exec.Cmd, error) { return runAs("postgres", bin, s.args()...) }, s.ping)
}

// startAndWait starts a server with its output in logFile, writes its pid
// to pidFile (unless "": the server writes its own), and waits until ping
// answers, the process exits or 60 s pass.
func startAndWait(ctx context.Context, logf Logf, name, what, logFile, pidFile string, mk func() (*exec.Cmd, error), ping func(context.Context) error) error {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd, err := mk()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reap it if it dies while we wait
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			return err
		}
	}
	logf("%s: starting %s", name, what)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ping(ctx) == nil {
			return nil
		}
		select {
		case <-exited:
			tail, _ := os.ReadFile(logFile)
			return fmt.Errorf("exited at start; %s ends: %s", logFile, lastLines(tail, 3))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	tail, _ := os.ReadFile(logFile)
	return fmt.Errorf("did not answer within 60s; %s ends: %s", logFile, lastLines(tail, 3))
}

func (s PGServer) ping(ctx context.Context) error {
	_, err := s.Admin(ctx, "postgres", "SELECT 1")
	return err
}

// Admin runs sql in database db of s as the lab's admin role, through the
// server's unix socket (never the TCP exposure under test), and returns
// psql's unaligned output: one line per row, fields separated by tabs.
func (s PGServer) Admin(ctx context.Context, db, sql string) (string, error) {
	return s.psql(ctx, db, nil, "-c", sql)
}

func (s PGServer) psql(ctx context.Context, db string, stdin io.Reader, args ...string) (string, error) {
	bin, err := pgBin("psql")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
		"-h", s.sock(), "-p", strconv.Itoa(s.Port), "-U", pgAdminUser, "-d", db}, args...)...)
	// No PGPASSWORD, PGSERVICE or ~/.pgpass from the caller's environment.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PGCONNECT_TIMEOUT=5", "PGPASSFILE=/nonexistent", "PGCLIENTENCODING=UTF8"}
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s (psql on %s): %w: %s", s.Name, s.sock(), err, lastLines(errb.Bytes(), 3))
	}
	return out.String(), nil
}

func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func pgLit(s string) string   { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func pgArray(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = pgLit(x)
	}
	return "ARRAY[" + strings.Join(q, ",") + "]"
}

// copyEscape escapes a field for COPY's text format.
func copyEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
}

// sql is what seeding and checking s needs (sqlServer): the stamp lives
// in database postgres.
func (s PGServer) sql() sqlServer {
	return sqlServer{name: s.Name, host: s.Host, port: s.Port, dir: s.dir(), pidFile: filepath.Join(s.data(), "postmaster.pid"),
		query: func(ctx context.Context, sql string) (string, error) { return s.Admin(ctx, "postgres", sql) },
		run: func(ctx context.Context, script io.Reader) error {
			_, err := s.psql(ctx, "postgres", script)
			return err
		},
		writeSeed: s.writeSeed}
}

// writeSeed writes the psql script that seeds s. The stamp's seed_version
// is written last, so an interrupted seed is done again from the start.
func (s PGServer) writeSeed(w io.Writer, stamp string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format+"\n", args...) }
	p("SET client_min_messages = warning;")
	pw := "NULL"
	if s.Password != "" {
		pw = pgLit(s.Password)
	}
	for _, u := range PGUsers {
		attrs := "LOGIN"
		if u == "postgres" {
			attrs = "SUPERUSER LOGIN"
		}
		p("SELECT 'CREATE ROLE %s %s' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) \\gexec", pgIdent(u), attrs, pgLit(u))
		p("ALTER ROLE %s PASSWORD %s;", pgIdent(u), pw)
	}
	p("DROP DATABASE IF EXISTS %s WITH (FORCE);", pgIdent(SQLDatabase))
	p("CREATE DATABASE %s OWNER postgres;", pgIdent(SQLDatabase))
	p("\\c %s", SQLDatabase)
	p("SET client_min_messages = warning;")
	p("SET ROLE postgres;")
	p("BEGIN;")
	tables := smallTables()
	if s.Full {
		tables = append(append(tables, hostileTables(PGLongTable)...), chatLogs())
	}
	for _, t := range tables {
		cols := make([]string, len(t.cols))
		names := make([]string, len(t.cols))
		for i, c := range t.cols {
			cols[i] = pgIdent(c.name) + " " + c.pg
			names[i] = pgIdent(c.name)
		}
		p("CREATE TABLE %s (%s);", pgIdent(t.name), strings.Join(cols, ", "))
		p("COPY %s (%s) FROM STDIN;", pgIdent(t.name), strings.Join(names, ", "))
		t.rows(func(row []string) {
			for i, f := range row {
				if i > 0 {
					bw.WriteByte('\t')
				}
				bw.WriteString(copyEscape(f))
			}
			bw.WriteByte('\n')
		})
		p("\\.")
	}
	if s.Full {
		// The plain rows of chat_logs, made by the server itself.
		p(`INSERT INTO chat_logs SELECT i, date_trunc('second', timestamp '%s' + i * interval '2592 milliseconds'),
  (%s)[1 + i %% %d], (%s)[1 + i %% %d], (%s)[1 + i %% %d], ''
  FROM generate_series(1, %d) AS i WHERE %s;`, chatT0.Format(sqlTimeLayout), pgArray(chatServices), len(chatServices),
			pgArray(chatModels), len(chatModels), pgArray(chatPrompts()), len(chatPrompts()), ChatLogsRows, chatLogPlain("i"))
		// As autovacuum would soon do: reltuples is -1 until the first ANALYZE.
		p("ANALYZE chat_logs;")
	}
	p("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app;")
	p("COMMIT;")
	p("\\c postgres")
	p("SET client_min_messages = warning;")
	p("CREATE SCHEMA IF NOT EXISTS %s;", StampSchema)
	p("CREATE TABLE IF NOT EXISTS %s.stamp (value text NOT NULL, seed_version text NOT NULL);", StampSchema)
	p("GRANT USAGE ON SCHEMA %[1]s TO PUBLIC; GRANT SELECT ON %[1]s.stamp TO PUBLIC;", StampSchema)
	p("DELETE FROM %s.stamp;", StampSchema)
	p("INSERT INTO %s.stamp VALUES (%s, %s);", StampSchema, pgLit(stamp), pgLit(sqlSeedVersion))
	return bw.Flush()
}

// Verify reports whether the server answering on s.Host:s.Port is the
// lab's own postmaster: see sqlServer.verify.
func (s PGServer) Verify(ctx context.Context) error { return s.sql().verify(ctx) }

func (s PGServer) stop() error {
	return stopPidSignal(filepath.Join(s.data(), "postmaster.pid"), syscall.SIGINT, "postgres")
}
