package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MariaDBServer is one MariaDB server of the lab: its own mariadbd, data
// directory and unix socket under Dir()/Name, listening on Host:Port only.
type MariaDBServer struct {
	Name string
	Host string
	Port int
	// Password is the password of MariaDBUsers; "" is none.
	Password string
	// Networks is the host part of MariaDBUsers' accounts; "" is '%'.
	// Nothing else may match 127.0.0.1, or 1130 turns into 1045.
	Networks string
	// Full servers also hold chat_logs and the hostile names.
	Full bool
}

// The lab's MariaDB servers, all on 3306. 127.0.0.9 is taken: wild.test
// answers it as the address where nothing listens.
func init() {
	name := func(s MariaDBServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }
	RegisterEngine(Engine{
		Name: EngineMariaDB,
		Up: func(ctx context.Context, logf Logf) error {
			return upEach(ctx, logf, MariaDBServers, name, MariaDBServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, MariaDBServers, func(s MariaDBServer) string { return s.Name }, MariaDBServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range MariaDBServers {
				how := "no password"
				if s.Password != "" {
					how = "password"
				}
				if s.Networks != "" {
					how += ", from " + s.Networks + " only"
				}
				fmt.Fprintf(w, "%-18s mariadb    %s:%d (%s)  %s\n", s.Name, s.Host, s.Port, how, State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

var (
	// MariaDBOpen lets root and app in from anywhere with an empty
	// password; both hold FILE, and secure_file_priv is not set, which on
	// MariaDB 10.11 means unrestricted.
	MariaDBOpen = MariaDBServer{Name: "mariadb-open", Host: "127.0.0.14", Port: 3306, Full: true}
	// MariaDBLocked wants a password: 1045 "Access denied … (using password: NO)".
	MariaDBLocked = MariaDBServer{Name: "mariadb-locked", Host: "127.0.0.12", Port: 3306, Password: "lab-locked-My83kz"}
	// MariaDBRestricted has accounts only for 192.0.2.10: 1130 "Host '127.0.0.1'
	// is not allowed to connect", sent before any login.
	MariaDBRestricted = MariaDBServer{Name: "mariadb-restricted", Host: "127.0.0.13", Port: 3306, Networks: "192.0.2.10"}
	MariaDBServers    = []MariaDBServer{MariaDBOpen, MariaDBLocked, MariaDBRestricted}
	// MariaDBUsers are the TCP accounts: root has every privilege, app may
	// read the product database and holds FILE.
	MariaDBUsers = []string{"root", "app"}
)

func (s MariaDBServer) dir() string  { return filepath.Join(Dir(), s.Name) }
func (s MariaDBServer) data() string { return filepath.Join(s.dir(), "data") }
func (s MariaDBServer) sock() string { return filepath.Join(s.dir(), "sock") }

func mariadbBin(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
		for _, d := range []string{"/usr/sbin/", "/usr/bin/"} {
			if _, err := os.Stat(d + n); err == nil {
				return d + n, nil
			}
		}
	}
	return "", fmt.Errorf("MariaDB's %s is not installed (scripts/install-deps installs mariadb-server)", names[0])
}

func (s MariaDBServer) up(ctx context.Context, logf Logf) error {
	if err := s.start(ctx, logf); err != nil {
		return err
	}
	return s.sql().seed(ctx, logf)
}

func (s MariaDBServer) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		logf("%s: already running on %s:%d", s.Name, s.Host, s.Port)
		return nil
	}
	if err := checkFree(s.Host, s.Port); err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir(), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.data(), "mysql")); err != nil {
		install, err := mariadbBin("mariadb-install-db", "mysql_install_db")
		if err != nil {
			return err
		}
		// The whole output is kept: a failed bootstrap says why only in
		// its middle. One failure is tried again on a fresh directory (seen
		// once on a machine busy seeding every other server at once).
		logFile := filepath.Join(s.dir(), "install.log")
		for try := 0; try < 2; try++ {
			os.RemoveAll(s.data())
			if err := chownTree(s.dir(), "mysql"); err != nil {
				return err
			}
			// --no-defaults first: /etc/mysql/my.cnf would otherwise apply.
			// The default root@localhost authenticates by unix_socket only.
			cmd := exec.CommandContext(ctx, install, "--no-defaults", "--user=mysql", "--datadir="+s.data(),
				"--skip-test-db", "--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M")
			var out []byte
			out, err = cmd.CombinedOutput()
			os.WriteFile(logFile, out, 0o644)
			if err == nil {
				break
			}
			err = fmt.Errorf("mariadb-install-db --datadir=%s: %w (all of its output: %s): %s", s.data(), err, logFile, lastLines(out, 8))
			if ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.dir(), "stamp"), []byte(randomStamp()+"\n"), 0o644); err != nil {
			return err
		}
	}
	if err := chownTree(s.dir(), "mysql"); err != nil {
		return err
	}
	bin, err := mariadbBin("mariadbd", "mysqld")
	if err != nil {
		return err
	}
	args := []string{"--no-defaults", "--user=mysql", "--datadir=" + s.data(), "--bind-address=" + s.Host,
		"--port=" + strconv.Itoa(s.Port), "--socket=" + s.sock(), "--pid-file=" + filepath.Join(s.dir(), "pid"),
		"--log-error=" + filepath.Join(s.dir(), "error.log"), "--skip-name-resolve",
		// Debian's own server charset, which --no-defaults drops.
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0", "--performance-schema=OFF", "--max-connections=40"}
	mk := func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd, nil
	}
	// Until the lab's admin exists, only OS root through the socket gets in.
	rootPing := func(ctx context.Context) error {
		_, err := s.client(ctx, "root", "", strings.NewReader("SELECT 1"))
		return err
	}
	if err := startAndWait(ctx, logf, s.Name, fmt.Sprintf("mariadbd on %s:%d", s.Host, s.Port), filepath.Join(s.dir(), "stdout.log"), "", mk,
		func(ctx context.Context) error {
			if s.ping(ctx) == nil {
				return nil
			}
			return rootPing(ctx)
		}); err != nil {
		return err
	}
	if s.ping(ctx) == nil {
		return nil
	}
	_, err = s.client(ctx, "root", "", strings.NewReader(fmt.Sprintf(
		"CREATE USER IF NOT EXISTS %[1]s@localhost IDENTIFIED BY %[2]s; GRANT ALL ON *.* TO %[1]s@localhost WITH GRANT OPTION;",
		myLit(AdminUser), myLit(AdminPassword))))
	if err != nil {
		return fmt.Errorf("creating the lab's admin: %w", err)
	}
	return nil
}

func (s MariaDBServer) ping(ctx context.Context) error {
	_, err := s.Admin(ctx, "SELECT 1")
	return err
}

// Admin runs sql on s as the lab's admin account, through the server's
// unix socket (never the TCP exposure under test), and returns the
// client's batch output: one line per row, fields separated by tabs.
func (s MariaDBServer) Admin(ctx context.Context, sql string) (string, error) {
	return s.client(ctx, AdminUser, AdminPassword, strings.NewReader(sql))
}

func (s MariaDBServer) client(ctx context.Context, user, password string, stdin io.Reader) (string, error) {
	bin, err := mariadbBin("mariadb", "mysql")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--no-defaults", "--socket="+s.sock(), "--user="+user, "--batch",
		"--skip-column-names", "--default-character-set=utf8mb4", "--connect-timeout=5")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	if password != "" {
		cmd.Env = append(cmd.Env, "MYSQL_PWD="+password)
	}
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s (mariadb on %s): %w: %s", s.Name, s.sock(), err, lastLines(errb.Bytes(), 3))
	}
	return out.String(), nil
}

func myIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func myLit(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`).Replace(s) + "'"
}

// sql is what seeding and checking s needs (sqlServer).
func (s MariaDBServer) sql() sqlServer {
	return sqlServer{name: s.Name, host: s.Host, port: s.Port, dir: s.dir(), pidFile: filepath.Join(s.dir(), "pid"),
		query: s.Admin,
		run: func(ctx context.Context, script io.Reader) error {
			_, err := s.client(ctx, AdminUser, AdminPassword, script)
			return err
		},
		writeSeed: s.writeSeed}
}

// writeSeed writes the SQL script that seeds s; the stamp's seed_version
// comes last, so an interrupted seed is done again from the start.
func (s MariaDBServer) writeSeed(w io.Writer, stamp string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format+"\n", args...) }
	host := "%"
	if s.Networks != "" {
		host = s.Networks
	}
	p("DROP DATABASE IF EXISTS %s;", myIdent(SQLDatabase))
	p("CREATE DATABASE %s CHARACTER SET utf8mb4;", myIdent(SQLDatabase))
	p("USE %s;", myIdent(SQLDatabase))
	tables := smallTables()
	if s.Full {
		tables = append(append(tables, hostileTables(MariaDBLongTable)...), chatLogs())
	}
	for _, t := range tables {
		cols := make([]string, len(t.cols))
		names := make([]string, len(t.cols))
		for i, c := range t.cols {
			cols[i] = myIdent(c.name) + " " + c.my
			names[i] = myIdent(c.name)
		}
		p("CREATE TABLE %s (%s) ENGINE=InnoDB;", myIdent(t.name), strings.Join(cols, ", "))
		n := 0
		t.rows(func(row []string) {
			if n%500 == 0 {
				if n > 0 {
					bw.WriteString(";\n")
				}
				fmt.Fprintf(bw, "INSERT INTO %s (%s) VALUES ", myIdent(t.name), strings.Join(names, ", "))
			} else {
				bw.WriteByte(',')
			}
			n++
			bw.WriteByte('(')
			for i, f := range row {
				if i > 0 {
					bw.WriteByte(',')
				}
				bw.WriteString(myLit(f))
			}
			bw.WriteByte(')')
		})
		if n > 0 {
			bw.WriteString(";\n")
		}
	}
	if s.Full {
		elt := func(xs []string) string {
			q := make([]string, len(xs))
			for i, x := range xs {
				q[i] = myLit(x)
			}
			return strings.Join(q, ",")
		}
		// The plain rows of chat_logs, made by the server itself (the
		// Sequence engine's seq_1_to_N).
		p(`INSERT INTO chat_logs SELECT seq, TIMESTAMP'%s' + INTERVAL (seq * 2592 DIV 1000) SECOND,
  ELT(1 + seq %% %d, %s), ELT(1 + seq %% %d, %s), ELT(1 + seq %% %d, %s), ''
  FROM seq_1_to_%d WHERE %s;`, chatT0.Format(sqlTimeLayout), len(chatServices), elt(chatServices),
			len(chatModels), elt(chatModels), len(chatPrompts()), elt(chatPrompts()), ChatLogsRows, chatLogPlain("seq"))
		// Table statistics (TABLE_ROWS, DATA_LENGTH) lag behind a bulk insert.
		p("ANALYZE TABLE chat_logs;")
	}
	for _, u := range MariaDBUsers {
		acct := myLit(u) + "@" + myLit(host)
		p("CREATE USER IF NOT EXISTS %s;", acct)
		p("ALTER USER %s IDENTIFIED BY %s;", acct, myLit(s.Password))
		if u == "root" {
			p("GRANT ALL ON *.* TO %s WITH GRANT OPTION;", acct)
		} else {
			p("GRANT SELECT ON %s.* TO %s;", myIdent(SQLDatabase), acct)
			p("GRANT FILE ON *.* TO %s;", acct)
		}
	}
	p("CREATE DATABASE IF NOT EXISTS %s;", StampSchema)
	p("CREATE TABLE IF NOT EXISTS %s.stamp (value TEXT NOT NULL, seed_version TEXT NOT NULL);", StampSchema)
	p("DELETE FROM %s.stamp;", StampSchema)
	p("INSERT INTO %s.stamp VALUES (%s, %s);", StampSchema, myLit(stamp), myLit(sqlSeedVersion))
	return bw.Flush()
}

// Verify reports whether the server answering on s.Host:s.Port is the
// lab's own mariadbd: see sqlServer.verify.
func (s MariaDBServer) Verify(ctx context.Context) error { return s.sql().verify(ctx) }

func (s MariaDBServer) stop() error {
	return stopPidSignal(filepath.Join(s.dir(), "pid"), syscall.SIGTERM, "mariadbd", "mysqld")
}
