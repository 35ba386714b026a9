package postgres

import "github.com/leakhound/leakhound/internal/datastore"

// Remediation implements datastore.Session: how to close a PostgreSQL
// server that lets strangers in. Each granted capability's own fix is
// added by assess.
func (s *session) Remediation(p datastore.Privileges) []string {
	out := []string{
		"Replace every 'trust' line of pg_hba.conf with scram-sha-256 (host all all <network> scram-sha-256), give each login role a password, then reload (SELECT pg_reload_conf())",
		"Allow only the networks that need it in pg_hba.conf, and set listen_addresses to internal interfaces only",
		"Firewall port 5432 from the internet",
	}
	if p.Readonly != datastore.Yes {
		out = append(out, "Give roles that only query SELECT alone (GRANT pg_read_all_data, or SELECT on the tables they need)")
	}
	if !s.svc.TLS {
		out = append(out, "Turn on ssl and use hostssl lines in pg_hba.conf, so credentials and data never cross the network in plaintext")
	}
	out = append(out, "Keep log_connections on: every probe like this one is logged as 'connection received'")
	return out
}
