package lab

import (
	"context"
	"crypto/tls"
	"encoding/json"
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

	"github.com/leakhound/leakhound/internal/lab/esreplay"
)

// ESServer is one Elasticsearch, OpenSearch or Kibana server of the lab.
// None of them can be installed on the project's machines, so each is a
// replay server (internal/lab/esreplay): its own process, started from
// the running leakhound-lab binary (leakhound-lab esreplay …), answering
// with the documented response shapes and evaluating queries over the
// documents the seed gives it.
type ESServer struct {
	Name     string
	Host     string
	Port     int
	TLS      bool
	Product  string // elasticsearch, opensearch, kibana
	Version  string
	Security string // off, required, anonymous
	Roles    []string
	// Full servers hold the million-document chat index and the hostile
	// names; Ransom ones a ransom note left by a wiper.
	Full, Ransom bool
}

// The lab's Elasticsearch family, on 127.0.0.19-21. The locked 8.x server
// has 127.0.0.20:9200; its TLS sibling, with anonymous access mapped to
// superuser (xpack.security.authc.anonymous.roles), listens on
// 127.0.0.20:9243, Elastic Cloud's HTTPS port.
var (
	ESOpen         = ESServer{Name: "es7-open", Host: "127.0.0.19", Port: 9200, Product: "elasticsearch", Version: "7.17.25", Security: "off", Full: true}
	KibanaOpen     = ESServer{Name: "kibana7-open", Host: "127.0.0.19", Port: 5601, Product: "kibana", Version: "7.17.25"}
	ESLocked       = ESServer{Name: "es8-locked", Host: "127.0.0.20", Port: 9200, Product: "elasticsearch", Version: "8.15.3", Security: "required"}
	ESAnonTLS      = ESServer{Name: "es8-anon-tls", Host: "127.0.0.20", Port: 9243, TLS: true, Product: "elasticsearch", Version: "8.15.3", Security: "anonymous", Roles: []string{"superuser"}}
	OpenSearchOpen = ESServer{Name: "opensearch2-open", Host: "127.0.0.21", Port: 9200, Product: "opensearch", Version: "2.17.1", Security: "off", Ransom: true}
	ESServers      = []ESServer{ESOpen, KibanaOpen, ESLocked, ESAnonTLS, OpenSearchOpen}
)

// EngineElasticsearch names the engine in leakhound-lab up|down|status.
const EngineElasticsearch = "elasticsearch"

// Names of the lab's indices.
const (
	ESChatIndex   = "chat-logs-2025.09"
	ESChatDocs    = 1_000_000
	ESRansomIndex = "read_me"
	// ESHostileIndex holds quotes, a backtick, $( ) and terminal escapes;
	// Elasticsearch forbids \ / * ? " < > | space , # and upper case in
	// index names, not these.
	ESHostileIndex = "notes'`$(id);\x1b]0;pwned\x07\x1b[31mred"
	// ESHostileField is a field name with a quote, a dot path and an escape.
	ESHostileField = "meta.na\"me\x1b[2J"
)

// ESLongIndex is the longest index name Elasticsearch allows (255 bytes).
var ESLongIndex = "long-" + strings.Repeat("n", 250)

// esSeedVersion changes whenever a replay server's seed does.
const esSeedVersion = "1"

func init() {
	name := func(s ESServer) string { return fmt.Sprintf("%s (%s:%d)", s.Name, s.Host, s.Port) }
	RegisterEngine(Engine{
		Name: EngineElasticsearch,
		Up: func(ctx context.Context, logf Logf) error {
			return upEach(ctx, logf, ESServers, name, ESServer.up)
		},
		Down: func(logf Logf) error {
			return stopEach(logf, ESServers, func(s ESServer) string { return s.Name }, ESServer.stop)
		},
		Status: func(ctx context.Context, w io.Writer) (down []string) {
			for _, s := range ESServers {
				scheme := "http"
				if s.TLS {
					scheme = "https"
				}
				fmt.Fprintf(w, "%-18s %-10s %s:%d (%s %s, security %s, replay)  %s\n", s.Name, s.Product, s.Host, s.Port, scheme, s.Version, orDash(s.Security), State(s.Verify(ctx), s.Name, &down))
			}
			return down
		},
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (s ESServer) dir() string { return filepath.Join(Dir(), s.Name) }

func (s ESServer) url(path string) string {
	scheme := "http"
	if s.TLS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%d%s", scheme, s.Host, s.Port, path)
}

// adminGet fetches path as the lab's admin (the replay lets the lab's own
// account in whatever its security says).
func (s ESServer) adminGet(ctx context.Context, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url(path), nil)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(AdminUser, AdminPassword)
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the lab's own certificate
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

func (s ESServer) ping(ctx context.Context) error {
	path := "/"
	if s.Product == "kibana" {
		path = "/api/status"
	}
	code, _, err := s.adminGet(ctx, path)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("%s: GET %s: status %d", s.Name, path, code)
	}
	return nil
}

// Verify reports whether the server on s's address is the lab's replay:
// the process the lab started holds the socket, and (but for Kibana, which
// has no snapshot) its snapshot carries the stamp the lab wrote.
func (s ESServer) Verify(ctx context.Context) error {
	pid, _ := readPid(filepath.Join(s.dir(), "pid"))
	if err := listenerOwnedBy(s.Host, s.Port, pid, s.Name); err != nil {
		return err
	}
	want, err := os.ReadFile(filepath.Join(s.dir(), "stamp"))
	if err != nil {
		return fmt.Errorf("%s: the lab's stamp: %w", s.Name, err)
	}
	if s.Product == "kibana" {
		return s.ping(ctx)
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return err
	}
	var got struct{ Stamp string }
	json.Unmarshal([]byte(snap), &got)
	if got.Stamp != strings.TrimSpace(string(want)) {
		return fmt.Errorf("%s on %s:%d: stamp %q, the lab wrote %q: %w", s.Name, s.Host, s.Port, got.Stamp, strings.TrimSpace(string(want)), ErrForeign)
	}
	return nil
}

// Snapshot is what an assessment must leave unchanged, read as the lab's
// admin: the seed's stamp, every index with its documents and bytes, and
// every request the replay refused as a write (a real server would have
// carried it out).
func (s ESServer) Snapshot(ctx context.Context) (string, error) {
	code, b, err := s.adminGet(ctx, "/_lab/snapshot")
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
	}
	if code != 200 {
		return "", fmt.Errorf("snapshot of %s: status %d: %.200s", s.Name, code, b)
	}
	return string(b), nil
}

func (s ESServer) up(ctx context.Context, logf Logf) error {
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
	if err := os.MkdirAll(s.dir(), 0o755); err != nil {
		return err
	}
	seedFile := filepath.Join(s.dir(), "seed.json")
	start := time.Now()
	written, err := s.writeSeed(seedFile)
	if err != nil {
		return err
	}
	if written {
		logf("%s: seed written in %s", s.Name, time.Since(start).Round(time.Millisecond))
	}
	exe, err := os.Executable()
	if err != nil || !strings.HasPrefix(filepath.Base(exe), "leakhound-lab") {
		return fmt.Errorf("%s is a replay server run by leakhound-lab itself: start it with `go run ./cmd/leakhound-lab up %s`", s.Name, EngineElasticsearch)
	}
	args := []string{"esreplay", "-seed", seedFile, "-listen", fmt.Sprintf("%s:%d", s.Host, s.Port), "-journal", filepath.Join(s.dir(), "refused-writes.log")}
	if s.TLS {
		if err := writeSelfSigned(s.dir(), s.Host); err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
		args = append(args, "-cert", filepath.Join(s.dir(), "server.crt"), "-key", filepath.Join(s.dir(), "server.key"))
	}
	mk := func() (*exec.Cmd, error) {
		cmd := exec.Command(exe, args...)
		cmd.Dir = s.dir()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd, nil
	}
	return startAndWait(ctx, logf, s.Name, fmt.Sprintf("the %s %s replay on %s:%d", s.Product, s.Version, s.Host, s.Port),
		filepath.Join(s.dir(), "replay.log"), filepath.Join(s.dir(), "pid"), mk, s.ping)
}

func (s ESServer) stop() error {
	return stopPidSignal(filepath.Join(s.dir(), "pid"), syscall.SIGTERM, "esreplay")
}

// writeSeed writes the server's seed file once: a seed of this version is
// kept, with its stamp.
func (s ESServer) writeSeed(file string) (bool, error) {
	if old, _, err := esreplay.LoadSeed(file); err == nil && strings.HasSuffix(old.Stamp, "/v"+esSeedVersion) {
		if b, err := os.ReadFile(filepath.Join(s.dir(), "stamp")); err == nil && strings.TrimSpace(string(b)) == old.Stamp {
			return false, nil
		}
	}
	stamp := randomStamp() + "/v" + esSeedVersion
	seed := s.seed(stamp)
	b, err := json.Marshal(seed)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return false, err
	}
	return true, os.WriteFile(filepath.Join(s.dir(), "stamp"), []byte(stamp+"\n"), 0o644)
}

func (s ESServer) seed(stamp string) esreplay.Seed {
	r := rand.New(rand.NewPCG(uint64(len(s.Name)), 19))
	uuid := func() string {
		const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		b := make([]byte, 22)
		for i := range b {
			b[i] = set[r.IntN(len(set))]
		}
		return string(b)
	}
	seed := esreplay.Seed{Stamp: stamp, Product: s.Product, Version: s.Version, ClusterName: "lab-" + s.Name, ClusterUUID: uuid(),
		NodeName: "node-" + s.Name, Security: s.Security, AnonymousRoles: s.Roles, Admin: AdminUser + ":" + AdminPassword}
	if s.Product == "kibana" {
		return seed
	}
	seed.Indices = append(seed.Indices,
		esreplay.IndexSeed{Name: "customers", UUID: uuid(), Docs: esCustomers(s.Full)},
		esreplay.IndexSeed{Name: "integrations", UUID: uuid(), Docs: esIntegrations()},
	)
	chat := esChatSpec(20_000)
	chatIndex := "chat-logs-2025.10"
	if s.Full {
		chat.Docs, chatIndex = ESChatDocs, ESChatIndex
	}
	if s.Security != "anonymous" {
		seed.Indices = append(seed.Indices, esreplay.IndexSeed{Name: chatIndex, UUID: uuid(), Generate: &chat})
	}
	if s.Full {
		g := gen{rand.New(rand.NewPCG(3, 3))}
		seed.Indices = append(seed.Indices,
			esreplay.IndexSeed{Name: ESHostileIndex, UUID: uuid(), Docs: []map[string]any{{"note": g.secret("github"), "meta": map[string]any{"na\"me\x1b[2J": "contact wang.fang77@163.com"}}}},
			esreplay.IndexSeed{Name: ESLongIndex, UUID: uuid(), Docs: []map[string]any{{"note": "an index with the longest name Elasticsearch allows"}}},
			esreplay.IndexSeed{Name: ".kibana_1", UUID: uuid(), Docs: []map[string]any{{"type": "config", "config": map[string]any{"buildNum": json.Number("46534")}}}},
		)
	}
	if s.Ransom {
		seed.Indices = append(seed.Indices, esreplay.IndexSeed{Name: ESRansomIndex, UUID: uuid(), Docs: []map[string]any{{
			"message": "All your data is backed up. You must pay 0.0125 BTC to bc1qx7k3m9w2f5s8d4g6h0j2l4n6p8r0t2v4x6z8q In 48 hours, your data will be publicly disclosed and deleted. After paying send mail to us: recover.db@onionmail.org and we will provide a link for you to download your data. Your DBCODE is: 7QK2M",
		}}})
	}
	return seed
}

// esChatSpec is a chat-log index of docs messages: the lab's prompts, in
// Chinese and English, one in 400 holding a key and one in 150 personal
// data, as the relational lab's chat_logs does.
func esChatSpec(docs int) esreplay.ChatSpec {
	g := gen{rand.New(rand.NewPCG(14, 14))}
	var specials []string
	prompts := chatPrompts()
	for i := range 64 {
		p := prompts[i%len(prompts)]
		if i%3 == 0 {
			specials = append(specials, p+" "+g.pii(PIIKinds[i/3%len(PIIKinds)]))
		} else {
			specials = append(specials, p+" "+g.secret(SecretKinds[i%len(SecretKinds)]))
		}
	}
	var users []string
	for i := range 5000 {
		users = append(users, strings.ToLower(g.pick(alnum[:26], 6))+fmt.Sprint(i)+"@"+g.one([]string{"qq.com", "163.com", "gmail.com"}))
	}
	return esreplay.ChatSpec{Docs: docs, Seed: 2025, Prompts: prompts, Specials: specials, Every: 300,
		Responses: []string{"好的，以下是修改后的版本：", "Sure, here is a summary:", "抱歉，我无法回答这个问题。"},
		Models:    chatModels, Users: users, Start: "2025-09-01T00:00:00Z"}
}

func esCustomers(full bool) []map[string]any {
	n := 200
	if full {
		n = CustomersRows
	}
	var out []map[string]any
	writeCustomers(func(row []string) {
		if len(out) >= n {
			return
		}
		id, _ := strconv.Atoi(row[0])
		out = append(out, map[string]any{"id": json.Number(strconv.Itoa(id)), "name": row[1], "email": row[2], "phone": row[3],
			"national_id": row[4], "card_number": row[5], "address": map[string]any{"city": []string{"Shanghai", "Beijing", "Shenzhen", "London"}[id%4]},
			"created_at": strings.Replace(row[6], " ", "T", 1) + "Z"})
	})
	return out
}

func esIntegrations() []map[string]any {
	var out []map[string]any
	writeIntegrations(func(row []string) {
		out = append(out, map[string]any{"provider": row[1], "config": row[2], "connection_string": row[3], "created_at": strings.Replace(row[4], " ", "T", 1) + "Z"})
	})
	return out
}
