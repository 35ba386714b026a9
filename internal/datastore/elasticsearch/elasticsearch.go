// Package elasticsearch finds Elasticsearch and OpenSearch clusters that
// answer anyone, and Kibana in front of one. It speaks their REST API over
// HTTP or HTTPS, with GET requests only (searches and counts carry their
// body on a GET, as both products document), each with a deadline and a
// cap on the answer read: GET / fingerprints the server (version, and
// version.distribution for OpenSearch), a 401 with WWW-Authenticate says
// credentials are required, _cat/indices sizes every index, _mapping
// names its fields, the security APIs say who anonymous is, and bounded
// searches read and count what the indices hold.
//
// jsonl's engine is "elasticsearch" for OpenSearch too; the distribution
// is in the display name and the notes.
package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Driver is the Elasticsearch/OpenSearch/Kibana driver.
type Driver struct{}

// Name implements datastore.Driver.
func (Driver) Name() string { return "elasticsearch" }

// DefaultPorts implements datastore.Driver: 9200 (HTTP or HTTPS: the first
// look tells), 9243 (Elastic Cloud's HTTPS) and Kibana's 5601.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 9200, Protocol: "http"}, {Number: 9243, Protocol: "https", TLS: true}, {Number: 5601, Protocol: "kibana"}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "elasticsearch", Port: 9200}, {Name: "opensearch", Port: 9200}}
}

// Caps on what the driver reads of one answer.
const (
	rootCap    = 64 << 10
	authCap    = 256 << 10
	catCap     = 32 << 20
	mappingCap = 16 << 20
	countCap   = 4 << 20
)

// Probe implements datastore.Driver. From the first look: an HTTP answer
// whose JSON is a root info (a version number and the tagline or a cluster
// name) is a cluster that let us in; a 401 that names the security realm
// (Basic realm="security", or OpenSearch's "OpenSearch Security") is one
// that wants credentials; a Kibana answers with its kbn-name header. With
// no look, the driver asks GET / itself, in plaintext and then in TLS.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	if look.Silent || look.Closed || look.Banner != nil || look.Reply != nil || look.Err != nil {
		return nil, nil
	}
	useTLS := look.TLS
	var a *answer
	if look.HTTP == nil {
		// No look: our own GET /, plaintext first.
		var err error
		for _, t := range []bool{false, true} {
			c := newClient(ep, t, timeout)
			a, err = c.get(ctx, "/", nil, rootCap, timeout)
			c.close()
			if err == nil || errors.Is(err, errTooLarge) {
				useTLS = t
				break
			}
			if ctx.Err() != nil || isTimeout(err) {
				return nil, nil
			}
		}
		if a == nil {
			return nil, nil
		}
	} else {
		a = &answer{status: look.HTTP.Status, header: look.HTTP.Header, body: look.HTTP.Body}
	}
	svc := &datastore.Service{Endpoint: ep, Engine: "elasticsearch", Protocol: "http", TLS: useTLS, Cert: look.Cert}
	if useTLS {
		svc.Protocol = "https"
	}
	if a.header.Get("kbn-name") != "" || strings.HasPrefix(a.header.Get("Location"), "/spaces/enter") {
		return d.probeKibana(ctx, svc, timeout)
	}
	switch a.status {
	case http.StatusOK:
		root, err := parseRoot(a.body)
		if err != nil {
			return nil, nil
		}
		describe(svc, root)
		svc.Auth, svc.User = datastore.AuthNone, "anonymous"
		svc.AuthMessage = fmt.Sprintf("%s answered GET / without credentials (cluster %q)", root.product(), root.ClusterName)
		return svc, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		if !securityRealm(a) {
			return nil, nil
		}
		svc.DisplayName = "Elasticsearch"
		if strings.Contains(strings.Join(a.header.Values("WWW-Authenticate"), " "), "OpenSearch") {
			svc.DisplayName = "OpenSearch"
			svc.Notes = append(svc.Notes, "distribution: opensearch")
		}
		svc.Auth, svc.AuthCode, svc.User = datastore.AuthRequired, a.status, "anonymous"
		svc.AuthMessage = errorReason(a.body)
		if a.status == http.StatusForbidden {
			svc.AuthMessage = "anonymous may not read the cluster: " + svc.AuthMessage
		}
		if !useTLS {
			svc.Notes = append(svc.Notes, "credentials would cross the network in plaintext: the cluster serves HTTP, not HTTPS")
		}
		return svc, nil
	}
	return nil, nil
}

// securityRealm reports whether a 401/403 is Elasticsearch's or
// OpenSearch's security layer: its realm in WWW-Authenticate, its product
// header, or its security_exception.
func securityRealm(a *answer) bool {
	auth := strings.Join(a.header.Values("WWW-Authenticate"), " ")
	return strings.Contains(auth, `realm="security"`) || strings.Contains(auth, `realm="OpenSearch Security"`) ||
		a.header.Get("X-elastic-product") == "Elasticsearch" || strings.Contains(string(a.body), `"security_exception"`)
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func describe(svc *datastore.Service, root rootInfo) {
	svc.Version = root.Version.Number
	svc.DisplayName = root.product() + " " + root.Version.Number
	if root.ClusterName != "" {
		svc.DisplayName += " (cluster " + root.ClusterName + ")"
	}
	dist := "elasticsearch"
	if root.opensearch() {
		dist = "opensearch"
	}
	svc.Notes = append(svc.Notes, "distribution: "+dist)
	if !svc.TLS {
		svc.Notes = append(svc.Notes, "the cluster serves plain HTTP: whatever it holds crosses the network unencrypted")
	}
}

// probeKibana asks Kibana's status API, which a Kibana without security
// answers to anyone.
func (d Driver) probeKibana(ctx context.Context, svc *datastore.Service, timeout time.Duration) (*datastore.Service, error) {
	svc.Protocol = "kibana"
	svc.DisplayName = "Kibana"
	c := newClient(svc.Endpoint, svc.TLS, timeout)
	defer c.close()
	a, err := c.get(ctx, "/api/status", nil, rootCap, timeout)
	if err != nil {
		svc.Auth = datastore.AuthUnknown
		svc.AuthMessage = "Kibana's /api/status did not answer: " + err.Error()
		return svc, nil
	}
	switch a.status {
	case http.StatusOK:
		var st struct {
			Name    string `json:"name"`
			Version struct {
				Number string `json:"number"`
			} `json:"version"`
		}
		json.Unmarshal(a.body, &st)
		svc.Version = clip(st.Version.Number, 64)
		svc.DisplayName = strings.TrimSpace("Kibana " + svc.Version)
		svc.Auth, svc.User = datastore.AuthNone, "anonymous"
		svc.AuthMessage = "Kibana answered /api/status without a login"
	case http.StatusUnauthorized, http.StatusForbidden:
		svc.Auth, svc.AuthCode, svc.User = datastore.AuthRequired, a.status, "anonymous"
		svc.AuthMessage = "Kibana asks for a login"
	default:
		svc.Auth, svc.AuthCode = datastore.AuthUnknown, a.status
		svc.AuthMessage = fmt.Sprintf("Kibana's /api/status answered %d", a.status)
	}
	return svc, nil
}

// Open implements datastore.Driver.
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no session: access was not proven (auth %s)", svc.Endpoint, svc.Auth)
	}
	s := &Session{svc: svc, c: newClient(svc.Endpoint, svc.TLS, timeout), timeout: timeout, kibana: svc.Protocol == "kibana"}
	if s.kibana {
		return s, nil
	}
	a, err := s.c.get(ctx, "/", nil, rootCap, timeout)
	if err != nil {
		s.c.close()
		return nil, fmt.Errorf("%s: GET /: %w", svc.Endpoint, err)
	}
	if a.status != http.StatusOK {
		s.c.close()
		return nil, fmt.Errorf("%s: GET / answered %d: %s", svc.Endpoint, a.status, errorReason(a.body))
	}
	if s.root, err = parseRoot(a.body); err != nil {
		s.c.close()
		return nil, fmt.Errorf("%s: %w", svc.Endpoint, err)
	}
	return s, nil
}

// Session is a read-only session on one cluster (or one Kibana).
type Session struct {
	svc     *datastore.Service
	c       *client
	timeout time.Duration
	kibana  bool
	root    rootInfo
	// fields are the mapping's fields of each index, from Inventory.
	fields map[string][]fieldInfo
	// held is what the session holds of the server's answers (the
	// inventory's names and fields, the last Sample's rows), against
	// datastore.SessionMemory.
	invHeld, rowsHeld int64
	sampled           int
}

// Close implements datastore.Session.
func (s *Session) Close() error {
	s.c.close()
	return nil
}

// ServerID implements datastore.Session: the cluster's uuid and the node
// that answered (Kibana: its uuid).
func (s *Session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	path := "/"
	if s.kibana {
		path = "/api/status"
	}
	a, err := s.c.get(ctx, path, nil, rootCap, s.timeout)
	if err != nil {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: %w", s.svc.Endpoint, err)
	}
	if a.status != http.StatusOK {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: GET %s answered %d", s.svc.Endpoint, path, a.status)
	}
	var id struct {
		Name        string `json:"name"`
		ClusterUUID string `json:"cluster_uuid"`
		UUID        string `json:"uuid"`
	}
	if err := json.Unmarshal(a.body, &id); err != nil {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: %w", s.svc.Endpoint, err)
	}
	key := s.svc.Endpoint.IP.String() + "|" + clip(id.ClusterUUID, 128) + "|" + clip(id.Name, 256)
	if s.kibana {
		key = s.svc.Endpoint.IP.String() + "|kibana|" + clip(id.UUID, 128)
	}
	return datastore.ServerID{Engine: "elasticsearch", Key: key}, nil
}

// Pushdown implements datastore.Session: keywords become phrase-prefix
// queries on analyzed fields and wildcard queries on keyword fields;
// the server counts them over whole indices. Its regexp queries are
// Lucene's, anchored to whole terms, which TranslateRegex refuses.
func (s *Session) Pushdown() datastore.Pushdown {
	if s.kibana {
		return datastore.Pushdown{}
	}
	return datastore.Pushdown{Substring: true, Regex: datastore.DialectLucene, Counts: true}
}
