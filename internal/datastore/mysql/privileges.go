package mysql

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// grant is one line of SHOW GRANTS: privileges on a level, or roles.
type grant struct {
	privs       []string // upper case, column lists dropped: "SELECT", "ALL PRIVILEGES", "FILE"
	on          string   // "*.*", "`db`.*", "`db`.`t`"; "" for a role grant
	roles       []string // role grant: the roles, as the server quoted them
	grantOption bool
}

var (
	grantPrivs = regexp.MustCompile(`(?is)^GRANT\s+(.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?:\s+BODY)?)\s+)?(\S+)\s+TO\s+(.+)$`)
	grantRoles = regexp.MustCompile(`(?is)^GRANT\s+(.+?)\s+TO\s+(.+)$`)
	// roleName is a role as SHOW GRANTS prints it: `r`, 'r', `r`@`%`.
	roleName = regexp.MustCompile("^(`(?:[^`]|``)*`|'[^']*'|[A-Za-z0-9_$]+)(?:@(`(?:[^`]|``)*`|'[^']*'|[A-Za-z0-9_.%$-]+))?$")
)

// parseGrant reads one SHOW GRANTS line; ok is false for lines that grant
// nothing we judge (a proxy grant, a line no server prints).
func parseGrant(line string) (grant, bool) {
	line = strings.TrimSpace(line)
	if m := grantPrivs.FindStringSubmatch(line); m != nil {
		g := grant{on: m[2], grantOption: strings.Contains(strings.ToUpper(m[3]), "WITH GRANT OPTION")}
		for _, p := range splitTop(m[1]) {
			p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
			if i := strings.IndexByte(p, '('); i >= 0 { // SELECT (col, …)
				p = strings.TrimSpace(p[:i])
			}
			if p != "" {
				g.privs = append(g.privs, p)
			}
		}
		return g, len(g.privs) > 0
	}
	if strings.HasPrefix(strings.ToUpper(line), "GRANT PROXY") {
		return grant{}, false
	}
	if m := grantRoles.FindStringSubmatch(line); m != nil {
		g := grant{grantOption: strings.Contains(strings.ToUpper(m[2]), "WITH ADMIN OPTION")}
		for _, r := range splitTop(m[1]) {
			if r = strings.TrimSpace(r); roleName.MatchString(r) {
				g.roles = append(g.roles, r)
			}
		}
		return g, len(g.roles) > 0
	}
	return grant{}, false
}

// splitTop splits at commas outside parentheses and quotes.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// requoteRole re-quotes a role name the server printed, so that no text
// of the server's reaches a query unquoted.
func requoteRole(r string) (string, bool) {
	m := roleName.FindStringSubmatch(r)
	if m == nil {
		return "", false
	}
	unq := func(s string) string {
		switch {
		case strings.HasPrefix(s, "`"):
			return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
		case strings.HasPrefix(s, "'"):
			return s[1 : len(s)-1]
		}
		return s
	}
	out := quoteIdent(unq(m[1]))
	if m[2] != "" {
		out += "@" + quoteIdent(unq(m[2]))
	}
	return out, true
}

// writePrivs are the grants that change data or schema.
var writePrivs = []string{"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "CREATE VIEW",
	"CREATE ROUTINE", "ALTER ROUTINE", "TRIGGER", "EVENT", "CREATE TEMPORARY TABLES", "REFERENCES", "DELETE HISTORY"}

// maxRoles bounds the roles whose grants are read.
const maxRoles = 32

// Privileges implements datastore.Session: judged from SHOW GRANTS (which,
// unlike information_schema.USER_PRIVILEGES, includes what the user's roles
// grant) and @@secure_file_priv, never by trying.
func (s *Session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	var p datastore.Privileges
	lines, err := s.grantLines(ctx, "SHOW GRANTS")
	if err != nil {
		why := "SHOW GRANTS failed: " + err.Error()
		p.Readonly = datastore.Unknown
		p.Evidence = append(p.Evidence, why)
		p.Capabilities = s.capabilitiesFrom(nil, "", false, nil, why)
		return p, nil
	}
	var grants []grant
	var roles []string
	for _, l := range lines {
		if g, ok := parseGrant(l); ok {
			grants = append(grants, g)
			roles = append(roles, g.roles...)
		}
	}
	// A role's own grants; roles granted to roles are followed too, up to maxRoles.
	seen := map[string]bool{}
	var roleErr string
	for i := 0; i < len(roles) && len(seen) < maxRoles; i++ {
		q, ok := requoteRole(roles[i])
		if !ok || seen[q] {
			continue
		}
		seen[q] = true
		rl, err := s.grantLines(ctx, "SHOW GRANTS FOR "+q)
		if err != nil {
			roleErr = fmt.Sprintf("the grants of role %s could not be read: %v", clean(roles[i], 80), err)
			continue
		}
		for _, l := range rl {
			if g, ok := parseGrant(l); ok {
				grants = append(grants, g)
				roles = append(roles, g.roles...)
			}
		}
	}
	p.Evidence = append(p.Evidence, fmt.Sprintf("%d SHOW GRANTS lines read, %d roles followed", len(lines), len(seen)))
	if s.noServerLimit {
		p.Evidence = append(p.Evidence, "the server has no statement time limit (max_statement_time, max_execution_time): leakhound's own deadlines alone bound its queries")
	}
	sfp, sfpNull, sfpErr := "", false, error(nil)
	row, nulls, err := s.one(ctx, "SELECT @@secure_file_priv")
	if err != nil {
		sfpErr = err
	} else {
		sfp, sfpNull = row[0], nulls[0]
	}
	p.Capabilities = s.capabilitiesFrom(grants, sfp, sfpNull, sfpErr, roleErr)
	p.Readonly = p.ReadonlyByCapabilities()
	return p, nil
}

// grantLines runs a SHOW GRANTS statement.
func (s *Session) grantLines(ctx context.Context, q string) ([]string, error) {
	res, err := s.q(ctx, q, 1000, 1<<20)
	if err != nil {
		return nil, err
	}
	if res.Cut != "" {
		return nil, fmt.Errorf("%s: %s", q, res.Cut)
	}
	var out []string
	for _, r := range res.Rows {
		if len(r) == 1 {
			out = append(out, r[0])
		}
	}
	return out, nil
}

// capabilitiesFrom judges each capability from the grants read and
// secure_file_priv. unsure, if not "", is why grants may be missing (a
// role that could not be read): a capability not found is then Unknown.
func (s *Session) capabilitiesFrom(grants []grant, sfp string, sfpNull bool, sfpErr error, unsure string) []datastore.Capability {
	type where struct{ priv, on string }
	has := func(privs ...string) []where {
		var w []where
		for _, g := range grants {
			for _, p := range g.privs {
				if slices.Contains(privs, p) || p == "ALL PRIVILEGES" || p == "ALL" {
					w = append(w, where{p, g.on})
				}
			}
		}
		return w
	}
	global := func(ws []where) []where {
		var out []where
		for _, w := range ws {
			if w.on == "*.*" {
				out = append(out, w)
			}
		}
		return out
	}
	say := func(ws []where) string {
		var parts []string
		for _, w := range ws {
			if len(parts) == 4 {
				parts = append(parts, fmt.Sprintf("and %d more", len(ws)-4))
				break
			}
			parts = append(parts, w.priv+" ON "+clean(w.on, 80))
		}
		return "SHOW GRANTS: " + strings.Join(parts, ", ")
	}
	notFound := func(c *datastore.Capability, what string) {
		if unsure != "" {
			c.Granted, c.Evidence = datastore.Unknown, unsure
			return
		}
		c.Granted, c.Evidence = datastore.No, "SHOW GRANTS holds no "+what
	}
	var out []datastore.Capability

	file := datastore.Capability{ID: "FILE", Impact: datastore.ImpactReadFiles,
		Summary:     "privilege FILE with secure_file_priv unrestricted: LOAD_FILE() and LOAD DATA INFILE read the server's own files",
		Remediation: "REVOKE FILE ON *.* FROM the user, and set secure_file_priv to a dedicated directory (my.cnf [mysqld] secure_file_priv=/var/lib/mysql-files)"}
	switch fg := global(has("FILE")); {
	case len(fg) == 0:
		notFound(&file, "global FILE")
	case sfpErr != nil:
		file.Granted, file.Evidence = datastore.Unknown, say(fg)+"; @@secure_file_priv could not be read: "+sfpErr.Error()
	default:
		unrestricted, what := s.fileUnrestricted(sfp, sfpNull)
		file.Granted, file.Evidence = datastore.VerdictOf(unrestricted), say(fg)+"; "+what
	}
	out = append(out, file)

	super := datastore.Capability{ID: "SUPER", Impact: datastore.ImpactAdminister,
		Summary:     "privilege SUPER (or an *_ADMIN privilege): change global settings, kill sessions, bypass read_only",
		Remediation: "REVOKE SUPER ON *.* FROM the user (and the *_ADMIN privileges on MySQL 8)"}
	var admin []where
	for _, g := range grants {
		for _, p := range g.privs {
			if g.on == "*.*" && (p == "SUPER" || p == "ALL PRIVILEGES" || p == "ALL" || strings.HasSuffix(p, "_ADMIN") || p == "SHUTDOWN") {
				admin = append(admin, where{p, g.on})
			}
		}
	}
	if len(admin) > 0 {
		super.Granted, super.Evidence = datastore.Yes, say(admin)
	} else {
		notFound(&super, "SUPER or *_ADMIN privilege")
	}
	out = append(out, super)

	users := datastore.Capability{ID: "CREATE USER", Impact: datastore.ImpactAdminister,
		Summary:     "privilege CREATE USER or GRANT OPTION: create accounts and hand out privileges",
		Remediation: "REVOKE CREATE USER ON *.* FROM the user, and grant without WITH GRANT OPTION"}
	cu := global(has("CREATE USER"))
	var opt []where
	for _, g := range grants {
		if g.grantOption && g.on != "" {
			opt = append(opt, where{"WITH GRANT OPTION", g.on})
		}
	}
	if all := append(cu, opt...); len(all) > 0 {
		users.Granted, users.Evidence = datastore.Yes, say(all)
	} else {
		notFound(&users, "CREATE USER or WITH GRANT OPTION")
	}
	out = append(out, users)

	write := datastore.Capability{ID: "WRITE", Impact: datastore.ImpactWrite,
		Summary:     "write privileges (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, …): change or destroy data and schema",
		Remediation: "Grant users that only read SELECT alone: REVOKE ALL PRIVILEGES, GRANT OPTION FROM the user; GRANT SELECT ON db.* TO the user"}
	if w := has(writePrivs...); len(w) > 0 {
		write.Granted, write.Evidence = datastore.Yes, say(w)
	} else {
		notFound(&write, "write privilege")
	}
	out = append(out, write)
	return out
}

// fileUnrestricted says what secure_file_priv means for FILE here. On
// MariaDB (10.11 checked) NULL and ” both leave it unrestricted; on MySQL
// (5.6.34+, 5.7.6+) NULL disables file import and export, ” leaves it
// unrestricted. A directory confines it to that directory.
func (s *Session) fileUnrestricted(v string, null bool) (bool, string) {
	switch {
	case null && s.mariadb:
		return true, "@@secure_file_priv is NULL, which on MariaDB leaves file access unrestricted"
	case null:
		return false, "@@secure_file_priv is NULL, which on MySQL disables file import and export"
	case v == "":
		return true, "@@secure_file_priv is empty: file access is unrestricted"
	}
	return false, fmt.Sprintf("@@secure_file_priv confines file access to %s", clean(v, 200))
}
