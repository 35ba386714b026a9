package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MemcachedServer is one memcached of the lab, on Host:11211 (TCP only).
type MemcachedServer struct {
	Name string
	Host string
	Port int
	// SASL starts it with -S: the binary protocol only, and nothing but
	// version and SASL before a login. Its text protocol answers nothing.
	SASL bool
}

// EngineMemcached is the lab engine of the memcached servers.
const EngineMemcached = "memcached"

var (
	// MemcachedOpen answers the text protocol, which has no auth.
	MemcachedOpen = MemcachedServer{Name: "memcached-open", Host: "127.0.0.29", Port: 11211}
	// MemcachedSASL requires SASL (binary protocol): stat answers 0x20.
	MemcachedSASL    = MemcachedServer{Name: "memcached-sasl", Host: "127.0.0.30", Port: 11211, SASL: true}
	MemcachedServers = []MemcachedServer{MemcachedOpen, MemcachedSASL}
)

// Sizes of the open memcached's key patterns.
const (
	MemcachedSessionKeys = 1500 // session:*
	MemcachedPromptKeys  = 2000 // cache:prompt:*
	MemcachedUserKeys    = 1500 // user:*
	// MemcachedStampKey holds the token in the server's dir, file stamp.
	MemcachedStampKey = "leakhound-lab:stamp"
	MemcachedSeedKey  = "leakhound-lab:seed_version"
	// MemcachedRansomKey holds a wiper's ransom note.
	MemcachedRansomKey = "README"
)

// Hostile keys of the open memcached: a quote and a terminal escape in
// the pattern (memcached keys hold no spaces).
var (
	MemcachedInjectionPattern = "x';DROP_TABLE_t;--:*"
	MemcachedEscapePattern    = "esc\x1b]0;pwned\x07\x1b[31mred:*"
)

const memcachedSeedVersion = "2"

func init() {
	RegisterEngine(Engine{
		Name: EngineMemcached,
		Up: func(ctx context.Context, logf Logf) error {
			return upEach(ctx, logf, MemcachedServers, func(s MemcachedServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }, MemcachedServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, MemcachedServers, func(s MemcachedServer) string { return s.Name }, MemcachedServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range MemcachedServers {
				how := "text protocol, no auth"
				if s.SASL {
					how = "SASL only (binary protocol)"
				}
				fmt.Fprintf(w, "%-18s memcached  %s:%d (%s)  %s\n", s.Name, s.Host, s.Port, how, State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

func (s MemcachedServer) dir() string  { return filepath.Join(Dir(), s.Name) }
func (s MemcachedServer) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func (s MemcachedServer) up(ctx context.Context, logf Logf) error {
	if err := s.start(ctx, logf); err != nil {
		return err
	}
	if s.SASL {
		return nil
	}
	return s.seed(ctx, logf)
}

func (s MemcachedServer) args() []string {
	a := []string{"-l", s.Host, "-p", strconv.Itoa(s.Port), "-U", "0", "-m", "64", "-c", "256"}
	if os.Geteuid() == 0 {
		a = append(a, "-u", "nobody") // memcached refuses to run as root
	}
	if s.SASL {
		a = append(a, "-S")
	}
	return a
}

func (s MemcachedServer) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		if err := s.Verify(ctx); err != nil {
			return err
		}
		logf("%s: already running on %s", s.Name, s.addr())
		return nil
	}
	if err := checkFree(s.Host, s.Port); err != nil {
		return err
	}
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return errors.New("memcached is not installed (scripts/install-deps installs it)")
	}
	if err := os.MkdirAll(s.dir(), 0o755); err != nil {
		return err
	}
	// A memcached keeps nothing across restarts: a new stamp each start.
	if err := os.WriteFile(filepath.Join(s.dir(), "stamp"), []byte(randomStamp()+"\n"), 0o644); err != nil {
		return err
	}
	var env []string
	if s.SASL {
		// mech PLAIN, and no user: Debian's memcached checks passwords in a
		// sasldb (its build has no MEMCACHED_SASL_PWDB file), which the lab
		// does not make. Every request before a login is refused all the
		// same, which is what the server is for.
		if err := os.WriteFile(filepath.Join(s.dir(), "memcached.conf"), []byte("mech_list: plain\nsasldb_path: "+filepath.Join(s.dir(), "sasldb2")+"\n"), 0o644); err != nil {
			return err
		}
		env = []string{"SASL_CONF_PATH=" + s.dir()}
	}
	mk := func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, s.args()...)
		cmd.Dir = s.dir()
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd, nil
	}
	return startAndWait(ctx, logf, s.Name, "memcached on "+s.addr(), filepath.Join(s.dir(), "memcached.log"), filepath.Join(s.dir(), "pid"), mk, s.ping)
}

// mcClient is the lab's own text-protocol client.
type mcClient struct {
	c net.Conn
	r *bufio.Reader
}

func (s MemcachedServer) client(ctx context.Context) (*mcClient, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	return &mcClient{c: c, r: bufio.NewReaderSize(c, 1<<20)}, nil
}

func (m *mcClient) line() (string, error) {
	l, err := m.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// lines sends cmd and reads lines up to END.
func (m *mcClient) lines(cmd string) ([]string, error) {
	if _, err := io.WriteString(m.c, cmd+"\r\n"); err != nil {
		return nil, err
	}
	var out []string
	for {
		l, err := m.line()
		if err != nil {
			return out, err
		}
		if l == "END" {
			return out, nil
		}
		if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "CLIENT_ERROR") || strings.HasPrefix(l, "SERVER_ERROR") || strings.HasPrefix(l, "BUSY") {
			return out, fmt.Errorf("%s: %s", cmd, l)
		}
		out = append(out, l)
	}
}

func (m *mcClient) get(key string) (string, bool, error) {
	ls, err := m.lines("get " + key)
	if err != nil || len(ls) == 0 {
		return "", false, err
	}
	// VALUE line, then the value (the lab's values hold no CRLF).
	if len(ls) < 2 {
		return "", false, fmt.Errorf("get %s: %q", key, ls)
	}
	return ls[1], true, nil
}

func (s MemcachedServer) ping(ctx context.Context) error {
	if s.SASL {
		return s.pingBinary(ctx)
	}
	m, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer m.c.Close()
	m.c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(m.c, "version\r\n")
	l, err := m.line()
	if err != nil || !strings.HasPrefix(l, "VERSION ") {
		return fmt.Errorf("%s: version: %q %v", s.Name, l, err)
	}
	return nil
}

// pingBinary asks version in the binary protocol, and stat, which a
// SASL-only server refuses before a login.
func (s MemcachedServer) pingBinary(ctx context.Context) error {
	m, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer m.c.Close()
	m.c.SetDeadline(time.Now().Add(2 * time.Second))
	req := func(op byte, key, val []byte) (uint16, []byte, error) {
		h := make([]byte, 24)
		h[0], h[1] = 0x80, op
		binary.BigEndian.PutUint16(h[2:], uint16(len(key)))
		binary.BigEndian.PutUint32(h[8:], uint32(len(key)+len(val)))
		if _, err := m.c.Write(append(append(h, key...), val...)); err != nil {
			return 0, nil, err
		}
		if _, err := io.ReadFull(m.r, h); err != nil {
			return 0, nil, err
		}
		body := make([]byte, min(binary.BigEndian.Uint32(h[8:]), 4096))
		_, err := io.ReadFull(m.r, body)
		return binary.BigEndian.Uint16(h[6:]), body, err
	}
	st, body, err := req(0x0b, nil, nil)
	if err != nil || st != 0 {
		return fmt.Errorf("%s: version: status %#x %q %v", s.Name, st, body, err)
	}
	// stat before a login: refused (0x20), or this is no SASL-only server.
	st, body, err = req(0x10, nil, nil)
	if err != nil || st != 0x20 {
		return fmt.Errorf("%s: stat before a login: status %#x %q %v, want 0x20: %w", s.Name, st, body, err, ErrForeign)
	}
	return nil
}

// Verify reports whether the memcached on s's address is the lab's own:
// the process the lab started holds the listening socket, and, on the
// open server, the stamp key holds the token the lab wrote (the SASL one,
// which no one can log in to, refuses stat before a login).
func (s MemcachedServer) Verify(ctx context.Context) error {
	pid, _ := readPid(filepath.Join(s.dir(), "pid"))
	if err := listenerOwnedBy(s.Host, s.Port, pid, s.Name); err != nil {
		return err
	}
	if s.SASL {
		return s.pingBinary(ctx)
	}
	want, err := readStamp(s.dir(), s.Name)
	if err != nil {
		return err
	}
	m, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer m.c.Close()
	got, ok, err := m.get(MemcachedStampKey)
	if err != nil {
		return fmt.Errorf("%s: reading the stamp: %w", s.Name, err)
	}
	if ok && got != want {
		return fmt.Errorf("%s on %s: stamp %q, the lab wrote %q: %w", s.Name, s.addr(), got, want, ErrForeign)
	}
	return nil
}

func (s MemcachedServer) seed(ctx context.Context, logf Logf) error {
	m, err := s.client(ctx)
	if err != nil {
		return err
	}
	defer m.c.Close()
	if v, ok, err := m.get(MemcachedSeedKey); err == nil && ok && v == memcachedSeedVersion {
		return nil
	}
	stamp, err := readStamp(s.dir(), s.Name)
	if err != nil {
		return err
	}
	start := time.Now()
	kvs := memcachedSeed()
	kvs = append(kvs, [2]string{MemcachedStampKey, stamp}, [2]string{MemcachedSeedKey, memcachedSeedVersion})
	w := bufio.NewWriterSize(m.c, 1<<20)
	for _, kv := range kvs {
		fmt.Fprintf(w, "set %s 0 0 %d noreply\r\n%s\r\n", kv[0], len(kv[1]), kv[1])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// noreply sets answer nothing: a version after them says all were read.
	io.WriteString(m.c, "version\r\n")
	if l, err := m.line(); err != nil || !strings.HasPrefix(l, "VERSION") {
		return fmt.Errorf("seeding: %q %v", l, err)
	}
	logf("%s: seeded %d keys in %s", s.Name, len(kvs), time.Since(start).Round(time.Millisecond))
	return nil
}

// memcachedSeed is what the open memcached holds, as an AI product caches
// it: sessions, cached prompts and answers, user profiles, configuration.
func memcachedSeed() [][2]string {
	g := gen{rand.New(rand.NewPCG(29, 29))}
	var kvs [][2]string
	put := func(k, v string) { kvs = append(kvs, [2]string{k, v}) }
	for i := range MemcachedSessionKeys {
		email := strings.ToLower(g.pick(alnum[:26], 6)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		v := fmt.Sprintf(`{"user_id":%d,"email":%q,"csrf":%q}`, 10000+i, email, g.pick(hexset, 32))
		if i%10 == 3 {
			v = fmt.Sprintf(`{"user_id":%d,"auth":%s}`, 10000+i, strconvQuote(g.secret("jwt")))
		}
		put("session:"+g.pick(hexset, 24), v)
	}
	prompts := chatPrompts()
	for i := range MemcachedPromptKeys {
		p := prompts[i%len(prompts)]
		switch i % 50 {
		case 7:
			p += " " + g.pii(PIIKinds[i/50%len(PIIKinds)])
		case 31:
			p += " " + g.secret(SecretKinds[i/50%len(SecretKinds)])
		}
		put(fmt.Sprintf("cache:prompt:%s", g.pick(hexset, 16)), fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%s},{"role":"assistant","content":"好的，以下是修改后的版本："}]}`,
			chatModels[i%len(chatModels)], strconvQuote(p)))
	}
	names := []string{"王芳", "李伟", "张敏", "刘洋", "陈静", "Maria Garcia", "James Smith", "Aiko Tanaka"}
	for i := range MemcachedUserKeys {
		email := strings.ToLower(g.pick(alnum[:26], 7)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		phone := "1" + g.one([]string{"3", "5", "8"}) + g.pick("0123456789", 9)
		put(fmt.Sprintf("user:%d", 10000+i), fmt.Sprintf(`{"name":%q,"email":%q,"phone":%q,"id_card":%q}`, g.one(names), email, phone, cnID(g)))
	}
	for _, kind := range SecretKinds {
		put("config:"+kind, g.secret(kind))
	}
	// What a wiper leaves after flush_all: a ransom note.
	put(MemcachedRansomKey, "All your data is backed up. You must pay 0.015 BTC to bc1q"+strings.ToLower(g.pick(alnum, 38))+
		" In 48 hours your data will be published and deleted. Contact us at recover.mc@onionmail.org with your server's IP")
	put(strings.TrimSuffix(MemcachedInjectionPattern, "*")+"note", g.secret("github"))
	put(strings.TrimSuffix(MemcachedEscapePattern, "*")+"note", "contact wang.fang77@163.com")
	return kvs
}

// strconvQuote quotes s as JSON does for the lab's values (no CR or LF
// may reach a memcached value line of the lab's client).
func strconvQuote(s string) string { return strconv.Quote(s) }

// Snapshot is what a read-only assessment of s must leave as it was: the
// counters of every write (sets, flushes, touches, deletes, increments),
// the items held, the settings, and every key the lab wrote with its CAS
// value (any write changes it), size, flags and TTL, read with the lab's
// own client. Access times and fetch flags, which a get changes, are left
// out.
func (s MemcachedServer) Snapshot(ctx context.Context) (string, error) {
	m, err := s.client(ctx)
	if err != nil {
		return "", err
	}
	defer m.c.Close()
	var b strings.Builder
	st, err := m.lines("stats")
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
	}
	for _, l := range st {
		f := strings.Fields(l)
		if len(f) == 3 && strings.Contains(" curr_items total_items cmd_set cmd_flush cmd_touch delete_hits delete_misses incr_hits decr_hits cas_hits touch_hits bytes evictions ", " "+f[1]+" ") {
			fmt.Fprintf(&b, "%s %s\n", f[1], f[2])
		}
	}
	settings, err := m.lines("stats settings")
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
	}
	fmt.Fprintf(&b, "settings %q\n", settings)
	// Every key the lab wrote, by meta get without the value and without
	// bumping it in the LRU (flag u): its CAS (which any write changes),
	// size, flags and TTL. A metadump is no snapshot: items moving between
	// LRUs while it crawls are missed.
	names := []string{MemcachedStampKey, MemcachedSeedKey}
	for _, kv := range memcachedSeed() {
		names = append(names, kv[0])
	}
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(m.c)
		for _, k := range names {
			fmt.Fprintf(w, "mg %s c s f t u\r\n", k)
		}
		werr <- w.Flush()
	}()
	keys := make([]string, 0, len(names))
	for _, k := range names {
		l, err := m.line()
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: mg %q: %w", s.Name, k, err)
		}
		keys = append(keys, strconv.Quote(k)+" "+l)
	}
	if err := <-werr; err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
	}
	h := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	fmt.Fprintf(&b, "keys %d %x\n", len(keys), h)
	return b.String(), nil
}

func (s MemcachedServer) stop() error {
	return stopPidSignal(filepath.Join(s.dir(), "pid"), syscall.SIGTERM, "memcached")
}
