// Package lab runs the project's lab: real ClickHouse servers from Debian's
// clickhouse-server and a plain web server, on loopback addresses, seeded
// with synthetic data shaped like the January 2025 leak. The README's demo
// and the tests both use it.
package lab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one ClickHouse server of the lab.
type Server struct {
	Name       string
	Host       string
	HTTPPort   int
	NativePort int
	Password   string // of user default; "" means none, the exposure under test
	Readonly   int    // readonly level of user default's profile
	TLS        bool   // HTTPPort and NativePort speak TLS (8443, 9440) and nothing else listens
	// Networks is where user default may connect from; "" is anywhere.
	Networks string
}

// The lab's servers. Every address is on loopback.
var (
	Open     = Server{Name: "open", Host: "127.0.0.2", HTTPPort: 8123, NativePort: 9000}
	Locked   = Server{Name: "locked", Host: "127.0.0.3", HTTPPort: 8123, NativePort: 9000, Password: "lab-locked-Hk29dQ"}
	Readonly = Server{Name: "readonly", Host: "127.0.0.4", HTTPPort: 18123, NativePort: 19000, Readonly: 1}
	TLS      = Server{Name: "tls", Host: "127.0.0.6", HTTPPort: 8443, NativePort: 9440, TLS: true}
	// Restricted lets user default in only from a documentation address
	// (RFC 5737) that no test connects from: the server answers code 195.
	Restricted = Server{Name: "restricted", Host: "127.0.0.7", HTTPPort: 8123, NativePort: 9000, Networks: "192.0.2.10"}
	Servers    = []Server{Open, Locked, Readonly, TLS, Restricted}
)

// Web is a plain nginx that answers "Ok." on ClickHouse's HTTP port, as
// ClickHouse itself does on /: a scan must not call it ClickHouse.
const (
	WebHost = "127.0.0.5"
	WebPort = 8123
)

// Admin is the lab's own user for seeding and for the tests' before/after
// snapshots; the scanner never uses it.
const (
	AdminUser     = "lab_admin"
	AdminPassword = "lab-admin-7Qw3"
)

// Dir is where the lab keeps configs, data, logs and pids.
func Dir() string {
	if d := os.Getenv("LEAKHOUND_LAB_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "leakhound-lab")
}

// Enabled reports whether the tests may use the lab (scripts/test brings it
// up and sets LEAKHOUND_LAB=1).
func Enabled() bool { return os.Getenv("LEAKHOUND_LAB") == "1" }

func (s Server) dir() string { return filepath.Join(Dir(), s.Name) }

func (s Server) config() string {
	ports := fmt.Sprintf("<http_port>%d</http_port>\n  <tcp_port>%d</tcp_port>", s.HTTPPort, s.NativePort)
	if s.TLS {
		ports = fmt.Sprintf(`<https_port>%d</https_port>
  <tcp_port_secure>%d</tcp_port_secure>
  <openSSL><server><certificateFile>%s/server.crt</certificateFile><privateKeyFile>%[3]s/server.key</privateKeyFile>
    <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions>
    <disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>`, s.HTTPPort, s.NativePort, s.dir())
	}
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/error.log</errorlog><size>20M</size><count>1</count></logger>
  <listen_host>%[2]s</listen_host>
  %[3]s
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>Asia/Shanghai</timezone>
  <display_name>lab-%[4]s</display_name>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
`, s.dir(), s.Host, ports, s.Name)
}

func (s Server) users() string {
	pw := "<password></password>"
	if s.Password != "" {
		sum := sha256.Sum256([]byte(s.Password))
		pw = "<password_sha256_hex>" + hex.EncodeToString(sum[:]) + "</password_sha256_hex>"
	}
	networks := "<ip>::/0</ip>"
	if s.Networks != "" {
		networks = "<ip>" + s.Networks + "</ip>"
	}
	admin := sha256.Sum256([]byte(AdminPassword))
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>2000000000</max_memory_usage></default>
    <exposed><max_memory_usage>2000000000</max_memory_usage><readonly>%d</readonly></exposed>
    <admin><max_memory_usage>4000000000</max_memory_usage></admin>
  </profiles>
  <users>
    <default>%s<networks>%s</networks><profile>exposed</profile><quota>default</quota></default>
    <%s><password_sha256_hex>%s</password_sha256_hex><networks><ip>127.0.0.0/8</ip><ip>::1</ip></networks><profile>admin</profile><quota>default</quota></%[4]s>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`, s.Readonly, pw, networks, AdminUser, hex.EncodeToString(admin[:]))
}

func webConfig(dir string) string {
	return fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
daemon on;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  server {
    listen %[2]s:%[3]d;
    location / { default_type text/html; return 200 "Ok.\n"; }
  }
}
`, dir, WebHost, WebPort)
}

// Logf reports progress.
type Logf func(format string, args ...any)

// Engine is one engine's servers in the lab: each engine's file registers
// its own in init(), so a new engine joins the lab with one file and no edit
// here.
type Engine struct {
	// Name is how scripts/lab names the engine: clickhouse, postgresql, …
	Name string
	// Up starts every server of the engine that is not running and seeds
	// what is missing; a running, seeded server is left as it is.
	Up func(ctx context.Context, logf Logf) error
	// Down stops the engine's servers started from Dir.
	Down func(logf Logf) error
	// Status writes one line per server and returns the names of those
	// down or not the lab's.
	Status func(ctx context.Context, w io.Writer) (down []string)
}

var engines []Engine

// RegisterEngine adds an engine to the lab; it panics on a duplicate name.
func RegisterEngine(e Engine) {
	for _, o := range engines {
		if o.Name == e.Name {
			panic("lab: engine " + e.Name + " registered twice")
		}
	}
	engines = append(engines, e)
	sort.Slice(engines, func(i, j int) bool { return engines[i].Name < engines[j].Name })
}

// Engines are the names of every engine of the lab, the default of Up,
// Down and Status.
func Engines() []string {
	names := make([]string, len(engines))
	for i, e := range engines {
		names[i] = e.Name
	}
	return names
}

// Engines of the lab, as Up, Down and Status name them. clickhouse
// includes the nginx and the DNS server that go with its servers.
const (
	EngineClickHouse = "clickhouse"
	EnginePostgres   = "postgresql"
	EngineMariaDB    = "mariadb"
)

func selectEngines(names []string) ([]Engine, error) {
	if len(names) == 0 {
		return engines, nil
	}
	var sel []Engine
	for _, n := range names {
		i := slices.IndexFunc(engines, func(e Engine) bool { return e.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown lab engine %q (%s)", n, strings.Join(Engines(), ", "))
		}
		if !slices.ContainsFunc(sel, func(e Engine) bool { return e.Name == n }) {
			sel = append(sel, engines[i])
		}
	}
	return sel, nil
}

// Up starts every lab server of the named engines (all when none is named)
// that is not running and seeds what is missing, every engine in parallel.
// It is idempotent: a running, seeded lab is left as it is.
func Up(ctx context.Context, logf Logf, names ...string) error {
	sel, err := selectEngines(names)
	if err != nil {
		return err
	}
	var jobs []func() error
	for _, e := range sel {
		jobs = append(jobs, func() error { return e.Up(ctx, logf) })
	}
	return parallel(jobs...)
}

// upEach starts servers in parallel, naming the one that failed.
func upEach[S any](ctx context.Context, logf Logf, servers []S, name func(S) string, up func(S, context.Context, Logf) error) error {
	var jobs []func() error
	for _, s := range servers {
		jobs = append(jobs, func() error {
			if err := up(s, ctx, logf); err != nil {
				return fmt.Errorf("lab server %s: %w", name(s), err)
			}
			return nil
		})
	}
	return parallel(jobs...)
}

// parallel runs jobs at once and joins their errors.
func parallel(jobs ...func() error) error {
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = j() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func init() {
	RegisterEngine(Engine{Name: EngineClickHouse, Up: upClickHouse, Down: downClickHouse, Status: statusClickHouse})
}

func upClickHouse(ctx context.Context, logf Logf) error {
	if err := upEach(ctx, logf, Servers, func(s Server) string { return s.Name + " (" + s.Host + ")" }, Server.start); err != nil {
		return err
	}
	if err := startWeb(logf); err != nil {
		return fmt.Errorf("lab web server (%s:%d): %w", WebHost, WebPort, err)
	}
	if err := startDNS(ctx, logf); err != nil {
		return fmt.Errorf("lab DNS server (%s): %w", DNSServer(), err)
	}
	return seed(ctx, logf)
}

func (s Server) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		// Someone else's ClickHouse taking the lab's admin password must
		// not be kept, and then seeded, as the lab's.
		if err := s.Verify(ctx); err != nil {
			return err
		}
		logf("%s: already running on %s", s.Name, s.Host)
		return nil
	}
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/clickhouse-server"); e == nil {
			bin = "/usr/sbin/clickhouse-server"
		} else {
			return errors.New("clickhouse-server is not installed (scripts/install-deps installs it)")
		}
	}
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir(), sub), 0o755); err != nil {
			return err
		}
	}
	cfg := filepath.Join(s.dir(), "config.xml")
	if err := os.WriteFile(cfg, []byte(s.config()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir(), "users.xml"), []byte(s.users()), 0o644); err != nil {
		return err
	}
	if s.TLS {
		if err := writeSelfSigned(s.dir(), s.Host); err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
	}
	out, err := os.Create(filepath.Join(s.dir(), "log", "stdout.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(bin, "--config-file="+cfg)
	cmd.Dir = s.dir()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir(), "pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	go cmd.Wait() // reap it if it dies while we wait
	logf("%s: starting clickhouse-server on %s:%d and :%d", s.Name, s.Host, s.HTTPPort, s.NativePort)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping(ctx) == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	tail, _ := os.ReadFile(filepath.Join(s.dir(), "log", "error.log"))
	return fmt.Errorf("did not answer within 60s; %s/log/error.log ends: %s", s.dir(), lastLines(tail, 5))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (s Server) ping(ctx context.Context) error {
	_, err := s.Admin(ctx, "SELECT 1")
	return err
}

// Admin runs sql on s as the lab's admin user and returns the body.
func (s Server) Admin(ctx context.Context, sql string) (string, error) {
	return s.adminBody(ctx, sql, nil)
}

func (s Server) adminBody(ctx context.Context, sql string, body io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	scheme := "http"
	if s.TLS {
		scheme = "https"
	}
	u := fmt.Sprintf("%s://%s:%d/?query=%s", scheme, s.Host, s.HTTPPort, url.QueryEscape(sql))
	method := http.MethodGet
	if body != nil || !strings.HasPrefix(strings.TrimSpace(strings.ToUpper(sql)), "SELECT") {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-ClickHouse-User", AdminUser)
	req.Header.Set("X-ClickHouse-Key", AdminPassword)
	// The lab's own self-signed certificate.
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", s.Name, bytes.TrimSpace(b))
	}
	return string(b), nil
}

func startWeb(logf Logf) error {
	dir := filepath.Join(Dir(), "web")
	if webAnswers() {
		logf("web: already running on %s:%d", WebHost, WebPort)
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(webConfig(dir)), 0o644); err != nil {
		return err
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	out, err := exec.Command(bin, "-c", conf, "-p", dir, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx: %v: %s", err, bytes.TrimSpace(out))
	}
	logf("web: nginx answering \"Ok.\" on %s:%d", WebHost, WebPort)
	for range 50 {
		if webAnswers() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("nginx did not answer")
}

func webAnswers() bool {
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/", WebHost, WebPort))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 100))
	return string(b) == "Ok.\n" && resp.Header.Get("Server") != ""
}

// Down stops every lab server of the named engines (all when none is
// named) started from Dir, every engine in parallel.
func Down(logf Logf, names ...string) error {
	sel, err := selectEngines(names)
	if err != nil {
		return err
	}
	var jobs []func() error
	for _, e := range sel {
		jobs = append(jobs, func() error { return e.Down(logf) })
	}
	return parallel(jobs...)
}

func downClickHouse(logf Logf) error {
	var errs []error
	stopped := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		} else {
			logf("%s: stopped", name)
		}
	}
	for _, s := range Servers {
		stopped(s.Name, stopPid(filepath.Join(s.dir(), "pid")))
	}
	stopped("web", stopPid(filepath.Join(Dir(), "web", "nginx.pid")))
	stopped("dns", stopPid(filepath.Join(Dir(), "dns", "dnsmasq.pid")))
	return errors.Join(errs...)
}

// stopEach stops servers in parallel (the relational ones flush their
// buffers on the way down).
func stopEach[S any](logf Logf, servers []S, name func(S) string, stop func(S) error) error {
	var jobs []func() error
	for _, s := range servers {
		jobs = append(jobs, func() error { return logStop(logf, name(s), stop(s)) })
	}
	return parallel(jobs...)
}

func logStop(logf Logf, name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	logf("%s: stopped", name)
	return nil
}

func stopPid(file string) error {
	return stopPidSignal(file, syscall.SIGTERM, "clickhouse", "nginx", "dnsmasq")
}

// Status writes one line per lab server of the named engines (all when
// none is named): where it is and whether it answers, and says so when a
// server answering on a lab address is not the lab's own.
func Status(ctx context.Context, w io.Writer, names ...string) error {
	sel, err := selectEngines(names)
	if err != nil {
		return err
	}
	var down []string
	for _, e := range sel {
		down = append(down, e.Status(ctx, w)...)
	}
	if len(down) > 0 {
		return fmt.Errorf("down or not the lab's: %s", strings.Join(down, ", "))
	}
	return nil
}

// State is what Status prints of a server whose verify returned err, with
// the server's name appended to *down unless it is up.
func State(err error, name string, down *[]string) string {
	switch {
	case err == nil:
		return "up"
	case errors.Is(err, ErrForeign):
		*down = append(*down, name)
		return "NOT THE LAB'S: " + err.Error()
	default:
		*down = append(*down, name)
		return "down"
	}
}

func statusClickHouse(ctx context.Context, w io.Writer) (down []string) {
	for _, s := range Servers {
		kind := "http:%d native:%d"
		if s.TLS {
			kind = "https:%d native+tls:%d"
		}
		fmt.Fprintf(w, "%-18s clickhouse %s "+kind+"  %s\n", s.Name, s.Host, s.HTTPPort, s.NativePort, State(s.Verify(ctx), s.Name, &down))
	}
	st := "up"
	if !webAnswers() {
		st = "down"
		down = append(down, "web")
	}
	fmt.Fprintf(w, "%-18s nginx      %s http:%d  %s\n", "web", WebHost, WebPort, st)
	st = "up"
	if !dnsAnswers(ctx) {
		st = "down"
		down = append(down, "dns")
	}
	fmt.Fprintf(w, "%-18s dnsmasq    %s  %s (zones %s, %s)\n", "dns", DNSServer(), st, Domain, WildDomain)
	return down
}

// writeSelfSigned writes server.crt and server.key for host into dir,
// once: a certificate the lab makes itself, valid for ten years.
func writeSelfSigned(dir, host string) error {
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if _, err := os.Stat(crt); err == nil {
		return nil
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "leakhound-lab"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		IPAddresses:  []net.IP{net.ParseIP(host)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// readStamp reads the token the lab wrote into the directory of server
// name when it made it: what the server must hold for Verify to call it
// the lab's own.
func readStamp(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stamp"))
	if err != nil {
		return "", fmt.Errorf("%s: the lab's stamp: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
