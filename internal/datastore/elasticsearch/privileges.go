package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Privileges implements datastore.Session, judged from what the server
// says, never by trying: who anonymous is and its roles
// (_security/_authenticate; OpenSearch's _plugins/_security/authinfo), and
// for roles other than superuser, _security/user/_has_privileges (a
// read-only check). A cluster whose security is off answers those with
// "security must be enabled" (7.x basic) or with no handler at all (OSS
// builds, OpenSearch without its security plugin): then anonymous can do
// anything, and the server's own answer is the evidence.
func (s *Session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	var p datastore.Privileges
	if s.kibana {
		p.Capabilities = []datastore.Capability{{ID: "kibana", Granted: datastore.Yes, Impact: datastore.ImpactAdminister,
			Summary:     "Kibana answers without a login: its Dev Tools console sends any request to the cluster behind it, and its saved objects and settings can be changed",
			Evidence:    "GET /api/status answered without credentials",
			Remediation: "Enable security in Kibana and Elasticsearch (xpack.security.enabled: true) and give Kibana its own service account",
		}}
		p.Readonly = p.ReadonlyByCapabilities()
		return p, nil
	}
	path := "/_security/_authenticate"
	if s.root.opensearch() {
		path = "/_plugins/_security/authinfo"
	}
	a, err := s.c.get(ctx, path, nil, authCap, s.timeout)
	if err != nil {
		why := fmt.Sprintf("GET %s failed: %v", path, err)
		p.Evidence = append(p.Evidence, why)
		p.Capabilities = capabilities(datastore.Unknown, datastore.Unknown, why, why)
		p.Readonly = p.ReadonlyByCapabilities()
		return p, nil
	}
	reason := errorReason(a.body)
	switch {
	case a.status == http.StatusOK:
		info, err := parseAuth(a.body)
		if err != nil {
			why := fmt.Sprintf("GET %s: %v", path, err)
			p.Capabilities = capabilities(datastore.Unknown, datastore.Unknown, why, why)
			break
		}
		who := fmt.Sprintf("anonymous requests run as %q with roles [%s] (GET %s)", info.Username, strings.Join(info.Roles, ", "), path)
		p.Evidence = append(p.Evidence, who)
		p.Details = map[string]any{"user": info.Username, "roles": info.Roles}
		if slices.Contains(info.Roles, "superuser") || slices.Contains(info.Roles, "all_access") {
			p.Capabilities = capabilities(datastore.Yes, datastore.Yes, who, who)
			break
		}
		if s.root.opensearch() {
			why := who + "; OpenSearch's roles are not resolved to privileges here"
			p.Capabilities = capabilities(datastore.Unknown, datastore.Unknown, why, why)
			break
		}
		write, admin, ev := s.hasPrivileges(ctx)
		p.Evidence = append(p.Evidence, ev)
		p.Capabilities = capabilities(write, admin, who+"; "+ev, who+"; "+ev)
	case securityOff(a.status, reason):
		why := fmt.Sprintf("security is off: GET %s answered %d %q", path, a.status, clip(reason, 160))
		p.Evidence = append(p.Evidence, why)
		p.Capabilities = capabilities(datastore.Yes, datastore.Yes, why, why)
	default:
		why := fmt.Sprintf("GET %s answered %d: %s", path, a.status, clip(reason, 160))
		p.Evidence = append(p.Evidence, why)
		p.Capabilities = capabilities(datastore.Unknown, datastore.Unknown, why, why)
	}
	p.Readonly = p.ReadonlyByCapabilities()
	return p, nil
}

// securityOff reads an error answer to a security API as "security is
// not enabled": Elasticsearch 7.x's basic-license refusal, or a server
// without the security handlers at all.
func securityOff(status int, reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "security must be explicitly enabled") ||
		strings.Contains(r, "security is not enabled") ||
		(status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && strings.Contains(r, "no handler found")
}

// hasPrivileges asks the server which privileges anonymous holds
// (GET _security/user/_has_privileges, read-only).
func (s *Session) hasPrivileges(ctx context.Context) (write, admin datastore.Verdict, evidence string) {
	body := []byte(`{"cluster":["all","manage","manage_security"],"index":[{"names":["*"],"privileges":["write","delete","create_index","delete_index","manage"]}]}`)
	a, err := s.c.get(ctx, "/_security/user/_has_privileges", body, authCap, s.timeout)
	if err != nil {
		return datastore.Unknown, datastore.Unknown, "GET _security/user/_has_privileges failed: " + err.Error()
	}
	if a.status != http.StatusOK {
		return datastore.Unknown, datastore.Unknown, fmt.Sprintf("GET _security/user/_has_privileges answered %d: %s", a.status, errorReason(a.body))
	}
	var r struct {
		Cluster map[string]bool            `json:"cluster"`
		Index   map[string]map[string]bool `json:"index"`
	}
	if err := json.Unmarshal(a.body, &r); err != nil {
		return datastore.Unknown, datastore.Unknown, "_has_privileges: " + err.Error()
	}
	write, admin = datastore.No, datastore.No
	var held []string
	for _, c := range []string{"all", "manage", "manage_security"} {
		if r.Cluster[c] {
			admin = datastore.Yes
			held = append(held, "cluster:"+c)
		}
	}
	for _, p := range []string{"write", "delete", "create_index", "delete_index", "manage"} {
		if r.Index["*"][p] {
			write = datastore.Yes
			held = append(held, "indices *:"+p)
		}
	}
	return write, admin, fmt.Sprintf("_has_privileges grants [%s]", strings.Join(held, ", "))
}

func capabilities(write, admin datastore.Verdict, writeEv, adminEv string) []datastore.Capability {
	return []datastore.Capability{
		{ID: "write", Granted: write, Impact: datastore.ImpactWrite,
			Summary:     "anyone can create, change and delete indices and documents (the ransom wipers' route: delete every index, leave a note)",
			Evidence:    writeEv,
			Remediation: "Enable security (xpack.security.enabled: true; OpenSearch: the security plugin) so that writes need credentials"},
		{ID: "manage", Granted: admin, Impact: datastore.ImpactAdminister,
			Summary:     "anyone can change cluster settings, snapshots, users and roles",
			Evidence:    adminEv,
			Remediation: "Give no role with cluster privileges (superuser, all, manage) to anonymous: remove xpack.security.authc.anonymous.roles or map it to a read-free role"},
	}
}
