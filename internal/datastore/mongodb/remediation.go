package mongodb

import "github.com/leakhound/leakhound/internal/datastore"

// Remediation implements datastore.Session: general advice; each granted
// capability's own remediation is added by the assessment.
func (s *Session) Remediation(p datastore.Privileges) []string {
	out := []string{
		"Enable access control: security.authorization: enabled in mongod.conf (or --auth), after creating an administrator with db.createUser on admin",
		"Listen on internal interfaces only (net.bindIp: 127.0.0.1 or a private address; MongoDB 3.6+ binds to localhost by default) and firewall port 27017 from the internet",
		"Give applications their own users with the read or readWrite role on their database only, never root",
	}
	if s != nil && s.svc != nil && !s.svc.TLS {
		out = append(out, "Require TLS (net.tls.mode: requireTLS) so that credentials and documents do not cross the network in plaintext")
	}
	if s != nil && s.ferret {
		out = append(out, "FerretDB: start it with authentication enabled and a setup user (--setup-username/--setup-password; FerretDB 1.x: --test-enable-new-auth), and bind --listen-addr to an internal address")
	}
	return out
}
