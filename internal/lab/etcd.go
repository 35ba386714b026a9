package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EtcdServer is one etcd server of the lab: its own etcd, data directory
// and a one-member cluster whose client port is Host:2379 and peer port
// Host:2380.
type EtcdServer struct {
	Name string
	Host string
	Port int
	// Password is user root's; "" leaves auth off, the exposure under test.
	Password string
	// TLS serves clients over HTTPS only, with a certificate the lab makes.
	TLS bool
	// Full servers hold the whole seed (Kubernetes objects, chat logs,
	// profiles, hostile prefixes); the others a few keys.
	Full bool
}

// EngineEtcd is the lab engine of the etcd servers.
const EngineEtcd = "etcd"

var (
	// EtcdOpen has auth off: anyone reads, writes and administers.
	EtcdOpen = EtcdServer{Name: "etcd-open", Host: "127.0.0.26", Port: 2379, Full: true}
	// EtcdLocked has auth on (user root with a password): a request
	// without credentials draws "etcdserver: user name is empty".
	EtcdLocked = EtcdServer{Name: "etcd-locked", Host: "127.0.0.27", Port: 2379, Password: "lab-locked-Et53qa"}
	// EtcdTLS has auth off, over TLS only.
	EtcdTLS     = EtcdServer{Name: "etcd-tls", Host: "127.0.0.28", Port: 2379, TLS: true}
	EtcdServers = []EtcdServer{EtcdOpen, EtcdLocked, EtcdTLS}
)

// Sizes of the open etcd's prefixes.
const (
	EtcdChatKeys    = 3000  // /chat/sessions/
	EtcdProfileKeys = 2000  // /users/profiles/
	EtcdPodKeys     = 1500  // /registry/pods/<ns>/
	EtcdEventKeys   = 40000 // /registry/events/default/: the big prefix
	// EtcdStampKey holds the token in the server's dir, file stamp;
	// EtcdSeedKey the seed version.
	EtcdStampKey = "/leakhound-lab/stamp"
	EtcdSeedKey  = "/leakhound-lab/seed_version"
)

// Hostile key prefixes of the open etcd, as the inventory names them.
var (
	EtcdInjectionPrefix = "/" + InjectionTable + "/"
	EtcdEscapePrefix    = "/" + EscapeTable + "/"
	EtcdLongPrefix      = "/long_" + strings.Repeat("n", 1000) + "/"
)

// etcdSeedVersion changes whenever the etcd servers' data does.
const etcdSeedVersion = "1"

func init() {
	RegisterEngine(Engine{
		Name: EngineEtcd,
		Up: func(ctx context.Context, logf Logf) error {
			return upEach(ctx, logf, EtcdServers, func(s EtcdServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }, EtcdServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, EtcdServers, func(s EtcdServer) string { return s.Name }, EtcdServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range EtcdServers {
				how := "auth off"
				if s.Password != "" {
					how = "auth on"
				}
				if s.TLS {
					how += ", TLS only"
				}
				fmt.Fprintf(w, "%-18s etcd       %s:%d (%s)  %s\n", s.Name, s.Host, s.Port, how, State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

func (s EtcdServer) dir() string { return filepath.Join(Dir(), s.Name) }

func (s EtcdServer) url() string {
	scheme := "http"
	if s.TLS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, s.Host, s.Port)
}

func (s EtcdServer) up(ctx context.Context, logf Logf) error {
	if err := s.start(ctx, logf); err != nil {
		return err
	}
	return s.seed(ctx, logf)
}

func (s EtcdServer) start(ctx context.Context, logf Logf) error {
	if s.ping(ctx) == nil {
		if err := s.Verify(ctx); err != nil {
			return err
		}
		logf("%s: already running on %s:%d", s.Name, s.Host, s.Port)
		return nil
	}
	for _, port := range []int{s.Port, s.Port + 1} {
		if err := checkFree(s.Host, port); err != nil {
			return err
		}
	}
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return errors.New("etcd is not installed (scripts/install-deps installs etcd-server)")
	}
	if err := os.MkdirAll(s.dir(), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.dir(), "stamp")); err != nil {
		os.RemoveAll(filepath.Join(s.dir(), "data"))
		if err := os.WriteFile(filepath.Join(s.dir(), "stamp"), []byte(randomStamp()+"\n"), 0o644); err != nil {
			return err
		}
	}
	peer := fmt.Sprintf("http://%s:%d", s.Host, s.Port+1)
	args := []string{"--name", "lab", "--data-dir", filepath.Join(s.dir(), "data"),
		"--listen-client-urls", s.url(), "--advertise-client-urls", s.url(),
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "lab=" + peer, "--initial-cluster-token", "leakhound-lab-" + s.Name,
		"--logger", "zap", "--log-level", "warn", "--quota-backend-bytes", strconv.Itoa(512 << 20),
		"--snapshot-count", "200000", "--auto-compaction-retention", "0"}
	if s.TLS {
		if err := writeSelfSigned(s.dir(), s.Host); err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
		args = append(args, "--cert-file", filepath.Join(s.dir(), "server.crt"), "--key-file", filepath.Join(s.dir(), "server.key"))
	}
	mk := func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = s.dir()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd, nil
	}
	return startAndWait(ctx, logf, s.Name, fmt.Sprintf("etcd on %s", s.url()), filepath.Join(s.dir(), "etcd.log"), filepath.Join(s.dir(), "pid"), mk, s.ping)
}

// etcdAdmin is the lab's own client of one server: the gateway, with user
// root's token where auth is on.
type etcdAdmin struct {
	s     EtcdServer
	http  *http.Client
	token string
}

func (s EtcdServer) admin(ctx context.Context) (*etcdAdmin, error) {
	a := &etcdAdmin{s: s, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}} // the lab's own certificate
	if s.Password == "" {
		return a, nil
	}
	var tok struct {
		Token string `json:"token"`
	}
	err := a.call(ctx, "/v3/auth/authenticate", map[string]string{"name": "root", "password": s.Password}, &tok)
	if err != nil && strings.Contains(err.Error(), "authentication is not enabled") {
		return a, nil // not yet locked: the seed enables auth last
	}
	if err != nil {
		return nil, fmt.Errorf("%s: logging in as root: %w", s.Name, err)
	}
	a.token = tok.Token
	return a, nil
}

func (a *etcdAdmin) call(ctx context.Context, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, a.s.url()+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		r.Header.Set("Authorization", a.token)
	}
	resp, err := a.http.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", a.s.Name, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

type etcdKV struct {
	Key         []byte `json:"key"`
	Value       []byte `json:"value"`
	ModRevision string `json:"mod_revision"`
}

type etcdRange struct {
	Header struct {
		Revision string `json:"revision"`
	} `json:"header"`
	KVs   []etcdKV `json:"kvs"`
	Count string   `json:"count"`
}

func (a *etcdAdmin) get(ctx context.Context, key string) (string, bool, error) {
	var r etcdRange
	if err := a.call(ctx, "/v3/kv/range", map[string]any{"key": []byte(key)}, &r); err != nil {
		return "", false, err
	}
	if len(r.KVs) == 0 {
		return "", false, nil
	}
	return string(r.KVs[0].Value), true, nil
}

// putAll writes kvs in transactions of at most 128 puts (etcd's default
// --max-txn-ops).
func (a *etcdAdmin) putAll(ctx context.Context, kvs [][2]string) error {
	for len(kvs) > 0 {
		n := min(len(kvs), 128)
		var ops []any
		for _, kv := range kvs[:n] {
			ops = append(ops, map[string]any{"request_put": map[string]any{"key": []byte(kv[0]), "value": []byte(kv[1])}})
		}
		if err := a.call(ctx, "/v3/kv/txn", map[string]any{"success": ops}, nil); err != nil {
			return err
		}
		kvs = kvs[n:]
	}
	return nil
}

func (s EtcdServer) ping(ctx context.Context) error {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/version", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("etcdserver")) {
		return fmt.Errorf("%s: /version: HTTP %d %q", s.Name, resp.StatusCode, b)
	}
	return nil
}

// Verify reports whether the etcd answering on s's address is the lab's
// own: the process the lab started holds the listening socket, and the
// stamp key holds the token the lab wrote.
func (s EtcdServer) Verify(ctx context.Context) error {
	pid, _ := readPid(filepath.Join(s.dir(), "pid"))
	if err := listenerOwnedBy(s.Host, s.Port, pid, s.Name); err != nil {
		return err
	}
	want, err := readStamp(s.dir(), s.Name)
	if err != nil {
		return err
	}
	a, err := s.admin(ctx)
	if err != nil {
		return err
	}
	got, ok, err := a.get(ctx, EtcdStampKey)
	if err != nil {
		return fmt.Errorf("%s: reading the stamp: %w", s.Name, err)
	}
	if !ok {
		return nil // started, not yet seeded: the pid holds the socket
	}
	if got != want {
		return fmt.Errorf("%s on %s:%d: stamp %q, the lab wrote %q: %w", s.Name, s.Host, s.Port, got, want, ErrForeign)
	}
	return nil
}

func (s EtcdServer) seed(ctx context.Context, logf Logf) error {
	a, err := s.admin(ctx)
	if err != nil {
		return err
	}
	if v, ok, err := a.get(ctx, EtcdSeedKey); err == nil && ok && v == etcdSeedVersion {
		return nil
	}
	stamp, err := readStamp(s.dir(), s.Name)
	if err != nil {
		return err
	}
	start := time.Now()
	kvs := etcdSeed(s)
	kvs = append(kvs, [2]string{EtcdStampKey, stamp})
	if err := a.putAll(ctx, kvs); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	if s.Password != "" {
		for _, step := range []struct {
			path string
			req  any
		}{
			{"/v3/auth/user/add", map[string]string{"name": "root", "password": s.Password}},
			{"/v3/auth/role/add", map[string]string{"name": "root"}},
			{"/v3/auth/user/grant", map[string]string{"user": "root", "role": "root"}},
		} {
			if err := a.call(ctx, step.path, step.req, nil); err != nil && !strings.Contains(err.Error(), "already exists") {
				return fmt.Errorf("%s: %w", step.path, err)
			}
		}
	}
	// The seed version last: an interrupted seed is done again.
	if err := a.putAll(ctx, [][2]string{{EtcdSeedKey, etcdSeedVersion}}); err != nil {
		return err
	}
	if s.Password != "" {
		if err := a.call(ctx, "/v3/auth/enable", struct{}{}, nil); err != nil {
			return fmt.Errorf("enabling auth: %w", err)
		}
	}
	logf("%s: seeded %d keys in %s", s.Name, len(kvs)+1, time.Since(start).Round(time.Millisecond))
	return nil
}

// etcdSeed is what s holds: on the full server, Kubernetes' objects as
// the API server stores them (Secrets in protobuf), an application's
// configuration with credentials, chat sessions, user profiles and hostile
// prefixes.
func etcdSeed(s EtcdServer) [][2]string {
	g := gen{rand.New(rand.NewPCG(26, 26))}
	var kvs [][2]string
	put := func(k, v string) { kvs = append(kvs, [2]string{k, v}) }
	if !s.Full {
		// A few customers and one Secret.
		for i := range 20 {
			put(fmt.Sprintf("/customers/%04d", i), g.pii(PIIKinds[i%len(PIIKinds)]))
		}
		put("/registry/secrets/default/api-token", k8sSecret("default", "api-token", "Opaque", map[string]string{"token": g.secret("github")}))
		return kvs
	}
	namespaces := []string{"default", "kube-system", "prod", "payments"}
	for _, ns := range namespaces {
		put("/registry/namespaces/"+ns, k8sObject("Namespace", k8sMeta(ns, "")))
	}
	secrets := []struct{ ns, name, typ, key, kind string }{
		{"kube-system", "bootstrap-token-7x2kqa", "bootstrap.kubernetes.io/token", "token-secret", "jwt"},
		{"kube-system", "default-token-q8w2n", "kubernetes.io/service-account-token", "token", "jwt"},
		{"kube-system", "etcd-client-tls", "kubernetes.io/tls", "tls.key", "private_key"},
		{"default", "regcred", "kubernetes.io/dockerconfigjson", ".dockerconfigjson", "github"},
		{"prod", "db-credentials", "Opaque", "DATABASE_URL", "connection_string"},
		{"prod", "openai", "Opaque", "OPENAI_API_KEY", "openai"},
		{"prod", "deepseek", "Opaque", "DEEPSEEK_API_KEY", "deepseek"},
		{"prod", "aws-s3-backup", "Opaque", "credentials", "aws"},
		{"payments", "anthropic", "Opaque", "ANTHROPIC_API_KEY", "anthropic"},
		{"payments", "billing-db", "Opaque", "DSN", "connection_string"},
	}
	for _, sc := range secrets {
		put("/registry/secrets/"+sc.ns+"/"+sc.name, k8sSecret(sc.ns, sc.name, sc.typ, map[string]string{sc.key: g.secret(sc.kind)}))
	}
	for i := range EtcdPodKeys {
		ns := namespaces[i%len(namespaces)]
		name := fmt.Sprintf("web-%s-%s", g.pick(hexset, 10), g.pick(alnum[26:52], 5))
		put("/registry/pods/"+ns+"/"+name, fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":%q},"spec":{"containers":[{"name":"web","image":"registry.internal/web:1.%d"}]}}`, name, ns, i%40))
	}
	for i := range EtcdEventKeys {
		put(fmt.Sprintf("/registry/events/default/web.%08x", i), fmt.Sprintf(`{"kind":"Event","reason":"Pulled","message":"Container image \"registry.internal/web:1.%d\" already present on machine","count":%d}`, i%40, 1+i%7))
	}
	services := []string{"chat-backend", "api-gateway", "billing", "worker"}
	for i, svc := range services {
		put("/app/prod/config/"+svc, fmt.Sprintf(`{"service":%q,"log_level":"info","upstream":%s,"dsn":%s}`, svc,
			strconv.Quote(g.secret(SecretKinds[i%len(SecretKinds)])), strconv.Quote(g.secret("connection_string"))))
	}
	prompts := chatPrompts()
	for i := range EtcdChatKeys {
		msg := prompts[i%len(prompts)]
		switch i % 50 {
		case 7:
			msg += " " + g.pii(PIIKinds[i/50%len(PIIKinds)])
		case 31:
			msg += " " + g.secret(SecretKinds[i/50%len(SecretKinds)])
		}
		put(fmt.Sprintf("/chat/sessions/%s", g.pick(hexset, 16)), fmt.Sprintf(`{"model":%q,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":%s}]}`,
			chatModels[i%len(chatModels)], strconv.Quote(msg)))
	}
	names := []string{"王芳", "李伟", "张敏", "刘洋", "陈静", "Maria Garcia", "James Smith", "Aiko Tanaka"}
	for i := range EtcdProfileKeys {
		email := strings.ToLower(g.pick(alnum[:26], 7)) + fmt.Sprint(i) + "@" + g.one([]string{"qq.com", "163.com", "gmail.com"})
		phone := "1" + g.one([]string{"3", "5", "8"}) + g.pick("0123456789", 9)
		put(fmt.Sprintf("/users/profiles/%06d", i+1), fmt.Sprintf(`{"name":%q,"email":%q,"phone":%q,"national_id":%q}`, g.one(names), email, phone, cnID(g)))
	}
	put(EtcdInjectionPrefix+"note", g.secret("github"))
	put(EtcdEscapePrefix+"note", "contact wang.fang77@163.com")
	put(EtcdLongPrefix+"note", "a prefix of a thousand bytes")
	return kvs
}

// Kubernetes' protobuf encoding: "k8s\x00", then runtime.Unknown
// {typeMeta{apiVersion, kind}, raw, contentEncoding, contentType}, raw
// being the object's own message. Field numbers are those of
// k8s.io/api/core/v1/generated.proto and apimachinery's runtime and meta.
func k8sObject(kind string, fields ...[]byte) string {
	typeMeta := append(pbString(1, "v1"), pbString(2, kind)...)
	var raw []byte
	for _, f := range fields {
		raw = append(raw, f...)
	}
	var b []byte
	b = append(b, "k8s\x00"...)
	b = append(b, pbBytes(1, typeMeta)...)
	b = append(b, pbBytes(2, raw)...)
	b = append(b, pbString(3, "")...)
	b = append(b, pbString(4, "")...)
	return string(b)
}

// k8sMeta is ObjectMeta (field 1 of every object): name, namespace, uid,
// resourceVersion (empty: the API server does not store it),
// creationTimestamp.
func k8sMeta(name, ns string) []byte {
	sum := sha256.Sum256([]byte(ns + "/" + name))
	h := hex.EncodeToString(sum[:16])
	uid := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	var m []byte
	m = append(m, pbString(1, name)...)
	m = append(m, pbString(3, ns)...)
	m = append(m, pbString(5, uid)...)
	ts := pbVarint(1, uint64(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()))
	m = append(m, pbBytes(8, ts)...)
	return pbBytes(1, m)
}

// k8sSecret is a v1 Secret: metadata, data (map<string, bytes>, field 2),
// type (field 3).
func k8sSecret(ns, name, typ string, data map[string]string) string {
	var fields [][]byte
	fields = append(fields, k8sMeta(name, ns))
	for k, v := range data {
		if typ == "kubernetes.io/dockerconfigjson" {
			v = `{"auths":{"ghcr.io":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("ci-bot:"+v)) + `","note":` + strconv.Quote(v) + `}}}`
		}
		entry := append(pbString(1, k), pbString(2, v)...)
		fields = append(fields, pbBytes(2, entry))
	}
	fields = append(fields, pbString(3, typ))
	return k8sObject("Secret", fields...)
}

func pbVarint(field int, v uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func pbBytes(field int, v []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func pbString(field int, s string) []byte { return pbBytes(field, []byte(s)) }

// Snapshot is what a read-only assessment of s must leave as it was: the
// store's revision (every write raises it) and key count, every key with
// its mod revision, the users and roles, and the cluster's members and
// alarms, read as the lab's admin.
func (s EtcdServer) Snapshot(ctx context.Context) (string, error) {
	a, err := s.admin(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	var r etcdRange
	if err := a.call(ctx, "/v3/kv/range", map[string]any{"key": []byte{0}, "range_end": []byte{0}, "keys_only": true}, &r); err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
	}
	fmt.Fprintf(&b, "revision %s count %s\n", r.Header.Revision, r.Count)
	h := sha256.New()
	for _, kv := range r.KVs {
		fmt.Fprintf(h, "%q %s\n", kv.Key, kv.ModRevision)
	}
	fmt.Fprintf(&b, "keys %x\n", h.Sum(nil))
	for _, q := range []string{"/v3/auth/user/list", "/v3/auth/role/list", "/v3/cluster/member/list", "/v3/maintenance/alarm"} {
		var out map[string]any
		if err := a.call(ctx, q, struct{}{}, &out); err != nil {
			fmt.Fprintf(&b, "%s: %v\n", q, err)
			continue
		}
		delete(out, "header")
		j, _ := json.Marshal(out)
		fmt.Fprintf(&b, "%s: %s\n", q, j)
	}
	return b.String(), nil
}

func (s EtcdServer) stop() error {
	return stopPidSignal(filepath.Join(s.dir(), "pid"), syscall.SIGTERM, "etcd")
}
