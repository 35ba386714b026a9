package elasticsearch

import "github.com/leakhound/leakhound/internal/datastore"

// Remediation implements datastore.Session: general advice for the
// product that answered; each granted capability's own remediation is
// added by the assessment.
func (s *Session) Remediation(p datastore.Privileges) []string {
	var out []string
	switch {
	case s.kibana:
		out = append(out, "Enable security in Kibana and in the Elasticsearch cluster behind it, so that Kibana asks for a login",
			"Bind Kibana to an internal address (server.host) and firewall port 5601 from the internet")
	case s.root.opensearch():
		out = append(out, "Enable the OpenSearch security plugin (remove plugins.security.disabled: true), set passwords for the built-in users and give anonymous no role",
			"Bind OpenSearch to internal interfaces (network.host) and firewall ports 9200 and 9300 from the internet")
	default:
		out = append(out, "Enable security (xpack.security.enabled: true) and set the built-in users' passwords (elasticsearch-reset-password, or elasticsearch-setup-passwords on 7.x)",
			"Disable anonymous access (remove xpack.security.authc.anonymous.roles)",
			"Bind Elasticsearch to internal interfaces (network.host) and firewall ports 9200 and 9300 from the internet")
	}
	switch {
	case s.svc == nil || s.svc.TLS:
	case s.kibana:
		out = append(out, "Serve Kibana over HTTPS only (server.ssl.enabled: true)")
	case s.root.opensearch():
		out = append(out, "Serve HTTPS only (plugins.security.ssl.http.enabled: true)")
	default:
		out = append(out, "Serve HTTPS only (xpack.security.http.ssl.enabled: true)")
	}
	return out
}
