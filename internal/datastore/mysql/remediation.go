package mysql

import "github.com/leakhound/leakhound/internal/datastore"

// Remediation implements datastore.Session: general advice; each granted
// capability's own remediation is added by the assessment.
func (s *Session) Remediation(p datastore.Privileges) []string {
	out := []string{
		"Set a password for every account that has none: run mysql_secure_installation (or mariadb-secure-installation), or ALTER USER 'root'@'%' IDENTIFIED BY '…'",
		"Drop accounts that may log in from anywhere ('user'@'%'); create them for the application's hosts only ('app'@'10.0.3.%')",
		"Listen on internal interfaces only (my.cnf [mysqld] bind-address=127.0.0.1 or a private address), and firewall port 3306 from the internet",
	}
	for _, c := range p.Capabilities {
		if c.ID == "FILE" && c.Granted == datastore.Yes {
			out = append(out, "Set secure_file_priv to a dedicated directory (or, on MySQL, NULL) so that FILE cannot read the server's own files")
		}
	}
	if s != nil && s.svc != nil && !s.svc.TLS {
		out = append(out, "Require TLS for remote accounts (ALTER USER … REQUIRE SSL; require_secure_transport=ON)")
	}
	return out
}
