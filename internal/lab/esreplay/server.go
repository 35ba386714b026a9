package esreplay

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Seed is what the lab writes for one replay server.
type Seed struct {
	Stamp string `json:"stamp"`
	// Product is elasticsearch, opensearch or kibana.
	Product     string `json:"product"`
	Version     string `json:"version"`
	BuildFlavor string `json:"build_flavor,omitempty"`
	ClusterName string `json:"cluster_name"`
	ClusterUUID string `json:"cluster_uuid"`
	NodeName    string `json:"node_name"`
	// Security is off (Elasticsearch 7.x's default on a basic license;
	// OpenSearch without its security plugin), required (every request
	// without credentials gets 401) or anonymous (requests without
	// credentials run as _anonymous with AnonymousRoles).
	Security       string   `json:"security"`
	AnonymousRoles []string `json:"anonymous_roles,omitempty"`
	// Admin is the lab's own account (user:password), let in whatever
	// Security says, for Verify and Snapshot.
	Admin   string      `json:"admin"`
	Indices []IndexSeed `json:"indices"`
}

// IndexSeed is one index: literal documents, or generated chat logs.
type IndexSeed struct {
	Name     string           `json:"name"`
	UUID     string           `json:"uuid"`
	Docs     []map[string]any `json:"docs,omitempty"`
	Generate *ChatSpec        `json:"generate,omitempty"`
}

// Server is one replay server.
type Server struct {
	seed    Seed
	indices []*index
	byName  map[string]*index
	started time.Time
	journal string // file where refused writes are recorded
	mu      sync.Mutex
	// evalMu serialises query evaluation: fields fill their token caches
	// on first use.
	evalMu sync.Mutex
}

// New builds a server from a seed: generated indices are laid out here.
func New(seed Seed, journal string) (*Server, error) {
	s := &Server{seed: seed, byName: map[string]*index{}, started: time.Now(), journal: journal}
	for _, is := range seed.Indices {
		ix := newIndex(is.Name, is.UUID)
		if is.Generate != nil {
			if err := ix.generate(*is.Generate); err != nil {
				return nil, err
			}
		}
		for _, d := range is.Docs {
			if err := ix.addDoc(d); err != nil {
				return nil, err
			}
		}
		s.indices = append(s.indices, ix)
		s.byName[ix.name] = ix
	}
	sort.Slice(s.indices, func(i, j int) bool { return s.indices[i].name < s.indices[j].name })
	return s, nil
}

// LoadSeed reads a seed file (numbers kept as written).
func LoadSeed(file string) (Seed, []byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Seed{}, nil, err
	}
	var seed Seed
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&seed); err != nil {
		return Seed{}, nil, fmt.Errorf("%s: %w", file, err)
	}
	return seed, b, nil
}

// Main runs a replay server: leakhound-lab esreplay -seed FILE -listen
// HOST:PORT [-cert FILE -key FILE] -journal FILE. It stops on SIGTERM.
func Main(args []string) error {
	fs := flag.NewFlagSet("esreplay", flag.ContinueOnError)
	seedFile := fs.String("seed", "", "seed file the lab wrote")
	listen := fs.String("listen", "", "loopback address:port")
	cert := fs.String("cert", "", "TLS certificate (serve https)")
	key := fs.String("key", "", "TLS key")
	journal := fs.String("journal", "", "file recording every request refused as a write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("esreplay: -listen %q: a loopback address:port only", *listen)
	}
	seed, _, err := LoadSeed(*seedFile)
	if err != nil {
		return err
	}
	start := time.Now()
	s, err := New(seed, *journal)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "esreplay: %s %s on %s: %d indices laid out in %s\n", seed.Product, seed.Version, *listen, len(s.indices), time.Since(start).Round(time.Millisecond))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *cert != "" {
		c, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12})
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute,
		ErrorLog: nil, MaxHeaderBytes: 64 << 10}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// maxBody bounds a request body (Elasticsearch's http.max_content_length
// is 100 MB; the driver sends far less).
const maxBody = 16 << 20

func (s *Server) admin(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok || s.seed.Admin == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(s.seed.Admin)) == 1
}

// record appends a refused write to the journal: the lab's snapshot reads
// it, so a scanner that sent one changes the snapshot.
func (s *Server) record(r *http.Request) {
	if s.journal == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.journal, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %q\n", r.Method, r.URL.RequestURI())
}

// segments splits the request path, each segment unescaped.
func segments(r *http.Request) ([]string, error) {
	p := strings.Trim(r.URL.EscapedPath(), "/")
	if p == "" {
		return nil, nil
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.seed.Product == "kibana" {
		s.kibana(w, r)
		return
	}
	segs, err := segments(r)
	if err != nil {
		s.errorJSON(w, 400, "illegal_argument_exception", "invalid path: "+err.Error(), nil)
		return
	}
	isAdmin := s.admin(r)
	if len(segs) == 2 && segs[0] == "_lab" && segs[1] == "snapshot" && isAdmin {
		s.snapshot(w)
		return
	}
	user := "_anonymous"
	if isAdmin {
		user = "lab_admin"
	} else if s.seed.Security == "required" {
		s.unauthorized(w, r)
		return
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	last := ""
	if len(segs) > 0 {
		last = segs[len(segs)-1]
	}
	// POST carries a body to the read-only endpoints; everything else that
	// is not GET would change the cluster on a real server.
	if r.Method == http.MethodPost && (last == "_search" || last == "_count" || last == "_has_privileges") {
		read = true
	}
	if !read {
		s.record(r)
		// Elasticsearch's answer to a method its handler does not take
		// (RestController, "Incorrect HTTP method"): 405 with Allow.
		w.Header().Set("Allow", "GET,HEAD")
		s.rawJSON(w, 405, map[string]any{"error": fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [GET, HEAD]", r.URL.RequestURI(), r.Method), "status": 405})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		s.errorJSON(w, 413, "content_too_long_exception", "request body too large", nil)
		return
	}
	switch {
	case len(segs) == 0:
		s.root(w, r)
	case len(segs) >= 2 && segs[0] == "_cat" && segs[1] == "indices" && len(segs) <= 3:
		s.catIndices(w, r, segs[2:])
	case len(segs) == 2 && segs[0] == "_security" && segs[1] == "_authenticate" && s.seed.Product == "elasticsearch":
		s.authenticate(w, user)
	case len(segs) == 3 && segs[0] == "_security" && segs[1] == "user" && segs[2] == "_has_privileges" && s.seed.Product == "elasticsearch":
		s.hasPrivileges(w, user, body)
	case len(segs) == 3 && segs[0] == "_plugins" && segs[1] == "_security" && segs[2] == "authinfo" && s.seed.Product == "opensearch" && s.seed.Security != "off":
		s.authinfo(w, user)
	case last == "_mapping" && len(segs) <= 2:
		s.mapping(w, segs[:len(segs)-1])
	case last == "_search" && len(segs) <= 2:
		s.evalMu.Lock()
		defer s.evalMu.Unlock()
		s.search(w, r, segs[:len(segs)-1], body)
	case last == "_count" && len(segs) <= 2:
		s.evalMu.Lock()
		defer s.evalMu.Unlock()
		s.count(w, r, segs[:len(segs)-1], body)
	default:
		s.noHandler(w, r)
	}
}

// ---- answers ----

func (s *Server) headers(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if s.seed.Product == "elasticsearch" && !strings.HasPrefix(s.seed.Version, "6.") {
		// Sent by Elasticsearch 7.14 and later on every answer.
		w.Header().Set("X-elastic-product", "Elasticsearch")
	}
}

func (s *Server) rawJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":"replay: encoding the answer failed","status":500}`)
	}
	s.headers(w)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// errorJSON writes Elasticsearch's error shape (docs/reference/api-conventions
// "Error responses"): the cause under error.root_cause and error, and the status.
func (s *Server) errorJSON(w http.ResponseWriter, status int, typ, reason string, extra map[string]any) {
	cause := map[string]any{"type": typ, "reason": reason}
	for k, v := range extra {
		cause[k] = v
	}
	top := map[string]any{}
	for k, v := range cause {
		top[k] = v
	}
	top["root_cause"] = []any{cause}
	s.rawJSON(w, status, map[string]any{"error": top, "status": status})
}

// noHandler is Elasticsearch's answer to a path it has no handler for
// (RestController.handleBadRequest): 400, in 7.x a bare string.
func (s *Server) noHandler(w http.ResponseWriter, r *http.Request) {
	reason := fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.RequestURI(), r.Method)
	if s.seed.Product == "elasticsearch" && strings.HasPrefix(s.seed.Version, "7.") {
		s.rawJSON(w, 400, map[string]any{"error": reason, "status": 400})
		return
	}
	s.errorJSON(w, 400, "illegal_argument_exception", reason, nil)
}

// unauthorized is the 401 of a secured cluster to a request without
// credentials (docs/reference/security: "missing authentication
// credentials"), with the schemes it takes in WWW-Authenticate.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	if s.seed.Product == "opensearch" {
		// The security plugin answers with a bare realm and a plain body.
		w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(401)
		io.WriteString(w, "Unauthorized")
		return
	}
	schemes := []string{`Basic realm="security" charset="UTF-8"`}
	if strings.HasPrefix(s.seed.Version, "8.") {
		schemes = append(schemes, `Bearer realm="security"`, "ApiKey")
	}
	for _, sc := range schemes {
		w.Header().Add("WWW-Authenticate", sc)
	}
	reason := fmt.Sprintf("missing authentication credentials for REST request [%s]", r.URL.RequestURI())
	s.errorJSON(w, 401, "security_exception", reason, map[string]any{"header": map[string]any{"WWW-Authenticate": schemes}})
}

// root is GET / (docs/reference/rest-api/root.asciidoc; OpenSearch's
// documentation-website _api-reference/index.md), pretty-printed as the
// servers print it.
func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	v := map[string]any{"number": s.seed.Version, "build_type": "docker", "build_hash": hashOf(s.seed.Version), "build_date": "2024-10-10T10:30:18.178430233Z",
		"build_snapshot": false, "lucene_version": luceneOf(s.seed), "minimum_wire_compatibility_version": wireOf(s.seed), "minimum_index_compatibility_version": indexCompatOf(s.seed)}
	tagline := "You Know, for Search"
	if s.seed.Product == "opensearch" {
		v["distribution"] = "opensearch"
		tagline = "The OpenSearch Project: https://opensearch.org/"
	} else {
		v["build_flavor"] = "default"
	}
	doc := orderedJSON{
		{"name", s.seed.NodeName}, {"cluster_name", s.seed.ClusterName}, {"cluster_uuid", s.seed.ClusterUUID},
		{"version", v}, {"tagline", tagline},
	}
	b := doc.pretty()
	s.headers(w)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(200)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func hashOf(v string) string { h := sha256.Sum256([]byte(v)); return hex.EncodeToString(h[:20]) }

func luceneOf(s Seed) string {
	switch {
	case s.Product == "opensearch":
		return "9.11.1"
	case strings.HasPrefix(s.Version, "8."):
		return "9.12.0"
	}
	return "8.11.3"
}

func wireOf(s Seed) string {
	if s.Product == "opensearch" {
		return "7.10.0"
	}
	if strings.HasPrefix(s.Version, "8.") {
		return "7.17.0"
	}
	return "6.8.0"
}

func indexCompatOf(s Seed) string {
	if s.Product == "opensearch" {
		return "7.0.0"
	}
	if strings.HasPrefix(s.Version, "8.") {
		return "7.0.0"
	}
	return "6.0.0-beta1"
}

// orderedJSON keeps keys in the order servers write them.
type orderedJSON [][2]any

func (o orderedJSON) pretty() []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, kv := range o {
		k, _ := json.Marshal(kv[0])
		var v []byte
		switch x := kv[1].(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var sub bytes.Buffer
			sub.WriteString("{\n")
			for j, kk := range keys {
				kb, _ := json.Marshal(kk)
				vb, _ := json.Marshal(x[kk])
				fmt.Fprintf(&sub, "    %s : %s", kb, vb)
				if j < len(keys)-1 {
					sub.WriteByte(',')
				}
				sub.WriteByte('\n')
			}
			sub.WriteString("  }")
			v = sub.Bytes()
		default:
			v, _ = json.Marshal(x)
		}
		fmt.Fprintf(&b, "  %s : %s", k, v)
		if i < len(o)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// resolve names the indices a path's index expression means: names and
// wildcard patterns, comma-separated; a missing concrete name is 404.
func (s *Server) resolve(w http.ResponseWriter, expr string) ([]*index, bool) {
	if expr == "" || expr == "_all" || expr == "*" {
		var out []*index
		for _, ix := range s.indices {
			if !strings.HasPrefix(ix.name, ".") {
				out = append(out, ix)
			}
		}
		return out, true
	}
	var out []*index
	for _, part := range strings.Split(expr, ",") {
		if strings.ContainsAny(part, "*?") {
			for _, ix := range s.indices {
				if glob(part, ix.name) && !slices.Contains(out, ix) {
					out = append(out, ix)
				}
			}
			continue
		}
		ix := s.byName[part]
		if ix == nil {
			// docs/reference: index_not_found_exception, 404.
			s.errorJSON(w, 404, "index_not_found_exception", "no such index ["+part+"]",
				map[string]any{"resource.type": "index_or_alias", "resource.id": part, "index_uuid": "_na_", "index": part})
			return nil, false
		}
		if !slices.Contains(out, ix) {
			out = append(out, ix)
		}
	}
	return out, true
}

// catIndices is GET _cat/indices (rest-api-spec cat.indices.json;
// docs/reference/cat/indices.asciidoc): with format=json, an array of
// string-valued objects; bytes=b gives sizes in bytes.
func (s *Server) catIndices(w http.ResponseWriter, r *http.Request, rest []string) {
	expr := ""
	if len(rest) == 1 {
		expr = rest[0]
	}
	q := r.URL.Query()
	ixs, ok := s.resolve(w, expr)
	if !ok {
		return
	}
	if expr == "" && strings.Contains(q.Get("expand_wildcards"), "all") {
		ixs = s.indices
	}
	size := func(n int64) string {
		if q.Get("bytes") == "b" {
			return strconv.FormatInt(n, 10)
		}
		return fmt.Sprintf("%.1fmb", float64(n)/(1<<20))
	}
	var rows []map[string]string
	for _, ix := range ixs {
		rows = append(rows, map[string]string{"health": "yellow", "status": "open", "index": ix.name, "uuid": ix.uuid, "pri": "1", "rep": "1",
			"docs.count": strconv.Itoa(ix.n), "docs.deleted": "0", "store.size": size(ix.bytes), "pri.store.size": size(ix.bytes)})
	}
	if q.Get("format") == "json" {
		if rows == nil {
			rows = []map[string]string{}
		}
		s.rawJSON(w, 200, rows)
		return
	}
	cols := []string{"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size"}
	var b strings.Builder
	if q.Has("v") {
		b.WriteString(strings.Join(cols, " ") + "\n")
	}
	for _, row := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = row[c]
		}
		b.WriteString(strings.Join(vals, " ") + "\n")
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	io.WriteString(w, b.String())
}

// mapping is GET [index/]_mapping (indices.get_mapping.json): per index,
// mappings.properties, objects nested, text fields with their keyword
// sub-field as dynamic mapping makes them.
func (s *Server) mapping(w http.ResponseWriter, segs []string) {
	expr := ""
	if len(segs) == 1 {
		expr = segs[0]
	}
	ixs, ok := s.resolve(w, expr)
	if !ok {
		return
	}
	out := map[string]any{}
	for _, ix := range ixs {
		props := map[string]any{}
		for _, f := range ix.fields {
			parts := strings.Split(f.path, ".")
			m := props
			for _, p := range parts[:len(parts)-1] {
				o, ok := m[p].(map[string]any)
				if !ok {
					o = map[string]any{"properties": map[string]any{}}
					m[p] = o
				}
				m = o["properties"].(map[string]any)
			}
			def := map[string]any{"type": f.typ}
			if f.keyword {
				def["fields"] = map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}
			}
			m[parts[len(parts)-1]] = def
		}
		out[ix.name] = map[string]any{"mappings": map[string]any{"properties": props}}
	}
	s.rawJSON(w, 200, out)
}

// authenticate is GET _security/_authenticate (docs/reference/rest-api/
// security/authenticate.asciidoc). With security off (7.x basic), the
// server says security must be enabled (500).
func (s *Server) authenticate(w http.ResponseWriter, user string) {
	if s.seed.Security == "off" {
		s.securityOff(w)
		return
	}
	roles := s.rolesOf(user)
	realm := map[string]any{"name": "__anonymous", "type": "__anonymous"}
	typ := "anonymous"
	if user != "_anonymous" {
		realm, typ = map[string]any{"name": "file", "type": "file"}, "realm"
	}
	s.rawJSON(w, 200, map[string]any{"username": user, "roles": roles, "full_name": nil, "email": nil,
		"metadata": map[string]any{"_reserved": user == "_anonymous"}, "enabled": true,
		"authentication_realm": realm, "lookup_realm": realm, "authentication_type": typ})
}

func (s *Server) securityOff(w http.ResponseWriter) {
	s.errorJSON(w, 500, "exception", "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.", nil)
}

func (s *Server) rolesOf(user string) []string {
	if user != "_anonymous" {
		return []string{"superuser"}
	}
	if s.seed.AnonymousRoles == nil {
		return []string{}
	}
	return s.seed.AnonymousRoles
}

// roleGrants says what the lab's roles hold: superuser every privilege,
// viewer monitor and read.
func roleGrants(roles []string, priv string) bool {
	for _, r := range roles {
		switch r {
		case "superuser":
			return true
		case "viewer":
			if priv == "monitor" || priv == "read" || priv == "view_index_metadata" {
				return true
			}
		}
	}
	return false
}

// hasPrivileges is GET|POST _security/user/_has_privileges
// (docs/reference/rest-api/security/has-privileges.asciidoc).
func (s *Server) hasPrivileges(w http.ResponseWriter, user string, body []byte) {
	if s.seed.Security == "off" {
		s.securityOff(w)
		return
	}
	var req struct {
		Cluster []string `json:"cluster"`
		Index   []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"index"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.errorJSON(w, 400, "parse_exception", "request body is required", nil)
		return
	}
	roles := s.rolesOf(user)
	all := true
	cluster := map[string]bool{}
	for _, p := range req.Cluster {
		cluster[p] = roleGrants(roles, p)
		all = all && cluster[p]
	}
	index := map[string]any{}
	for _, ix := range req.Index {
		for _, n := range ix.Names {
			m := map[string]bool{}
			for _, p := range ix.Privileges {
				m[p] = roleGrants(roles, p)
				all = all && m[p]
			}
			index[n] = m
		}
	}
	s.rawJSON(w, 200, map[string]any{"username": user, "has_all_requested": all, "cluster": cluster, "index": index, "application": map[string]any{}})
}

// authinfo is OpenSearch's GET _plugins/_security/authinfo
// (documentation-website _security/access-control/api.md).
func (s *Server) authinfo(w http.ResponseWriter, user string) {
	roles := s.rolesOf(user)
	s.rawJSON(w, 200, map[string]any{"user": "User [name=" + user + ", backend_roles=[], requestedTenant=null]", "user_name": user,
		"user_requested_tenant": nil, "remote_address": "127.0.0.1:0", "backend_roles": []string{}, "custom_attribute_names": []string{},
		"roles": roles, "tenants": map[string]any{}, "principal": nil, "peer_certificates": "0", "sso_logout_url": nil})
}

// snapshot is the lab's own view (admin only): the seed's stamp and every
// write refused. The replay cannot change its documents; a request that
// would have is recorded, and so changes the snapshot.
func (s *Server) snapshot(w http.ResponseWriter) {
	var writes []string
	if b, err := os.ReadFile(s.journal); err == nil {
		writes = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	var idx []string
	for _, ix := range s.indices {
		idx = append(idx, fmt.Sprintf("%s %d %d", ix.name, ix.n, ix.bytes))
	}
	s.rawJSON(w, 200, map[string]any{"stamp": s.seed.Stamp, "indices": idx, "refused_writes": writes, "journal": filepath.Base(s.journal)})
}

// kibana answers as Kibana does without security: / redirects to the
// spaces selector, /api/status is its status (elastic/kibana docs/api/
// status), every answer carries kbn-name.
func (s *Server) kibana(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("kbn-name", s.seed.NodeName)
	w.Header().Set("kbn-license-sig", hashOf(s.seed.ClusterUUID))
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.record(r)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(404)
		io.WriteString(w, `{"statusCode":404,"error":"Not Found","message":"Not Found"}`)
		return
	}
	switch r.URL.Path {
	case "/":
		w.Header().Set("Location", "/spaces/enter")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(302)
	case "/api/status":
		b, _ := json.Marshal(map[string]any{"name": s.seed.NodeName, "uuid": s.seed.ClusterUUID,
			"version": map[string]any{"number": s.seed.Version, "build_hash": hashOf(s.seed.Version), "build_number": 46534, "build_snapshot": false},
			"status":  map[string]any{"overall": map[string]any{"since": s.started.UTC().Format(time.RFC3339), "state": "green", "title": "Green", "nickname": "Looking good", "icon": "success", "uiColor": "secondary"}, "statuses": []any{}},
			"metrics": map[string]any{}})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(b)
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(404)
		io.WriteString(w, `{"statusCode":404,"error":"Not Found","message":"Not Found"}`)
	}
}
