package redis

import "github.com/leakhound/leakhound/internal/datastore"

// Remediation implements datastore.Session: general advice; each granted
// capability's own remediation is added by the assessment.
func (s *Session) Remediation(p datastore.Privileges) []string {
	out := []string{
		"Require a password for user default (requirepass, or ACL SETUSER default on >… ; Redis 6+), and give each application its own ACL user",
		"Listen on internal interfaces only (bind 127.0.0.1 or a private address), keep protected-mode yes, and firewall port 6379 from the internet",
	}
	if s != nil && s.svc != nil && !s.svc.TLS {
		out = append(out, "Serve TLS only (tls-port 6379, port 0) so that passwords and data do not cross the network in plaintext")
	}
	return out
}
