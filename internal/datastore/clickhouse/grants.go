package clickhouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Role-based access control (ClickHouse 20.x and later): SHOW GRANTS lists
// what the current user was granted, one statement a row, in the form the
// GRANT statement takes (docs: sql-reference/statements/grant.md, show.md):
//
//	GRANT SELECT ON aiapp.* TO analyst
//	GRANT CREATE TEMPORARY TABLE, URL ON *.* TO etl
//	GRANT ALL ON *.* TO default WITH GRANT OPTION
//	GRANT etl_role TO app
//	REVOKE SELECT(secret) ON aiapp.customers FROM analyst
//
// Servers before RBAC (18.x, 19.x) refuse the statement; their
// capabilities are judged from settings and probes alone.

// grants is what SHOW GRANTS told.
type grants struct {
	lines []string // the GRANT lines, for evidence
	// write, file, reach: the privilege that grants the capability
	// ("" when none does).
	write, file, reach string
	// roles names a role granted: privileges may come through it, so an
	// absent privilege does not mean it is not held.
	roles string
}

// maxGrantEvidence bounds the grant lines quoted as evidence.
const maxGrantEvidence = 8

// showGrants reads the current user's grants. ok is false when the server
// has no RBAC, refuses the statement or answers nothing: then nothing is
// judged from grants.
func (s *session) showGrants(ctx context.Context) (grants, bool) {
	res, err := s.complete(ctx, "SHOW GRANTS", nil)
	if err != nil {
		return grants{}, false
	}
	return parseGrants(res.rows)
}

// parseGrants reads SHOW GRANTS' rows; ok is false when they hold no GRANT.
func parseGrants(rows [][]string) (g grants, ok bool) {
	for _, r := range rows {
		if len(r) != 1 {
			return grants{}, false // not SHOW GRANTS' one column
		}
		line := strings.TrimSpace(r[0])
		up := strings.ToUpper(line)
		if strings.Contains(up, "IDENTIFIED") {
			continue // never quote anything near a credential
		}
		if !strings.HasPrefix(up, "GRANT ") {
			continue // partial REVOKEs narrow a grant, never widen one
		}
		g.lines = append(g.lines, line)
		privs, on, hasOn := strings.Cut(up[len("GRANT "):], " ON ")
		if !hasOn {
			if g.roles == "" { // GRANT role TO user
				role, _, _ := strings.Cut(up[len("GRANT "):], " TO ")
				g.roles = strings.ToLower(strings.TrimSpace(role))
			}
			continue
		}
		target, _, _ := strings.Cut(on, " ")
		target, _, _ = strings.Cut(target, "(") // ON URL('filter')
		for _, p := range splitPrivileges(privs) {
			if p == "READ" || p == "WRITE" { // 25.x: GRANT READ ON S3 TO u
				p = target
			}
			if writePrivilege(p) && g.write == "" {
				g.write = p
			}
			if (p == "ALL" || p == "SOURCES" || p == "FILE") && g.file == "" {
				g.file = p
			}
			if (p == "ALL" || p == "SOURCES" || reachSources[p]) && g.reach == "" {
				g.reach = p
			}
		}
	}
	return g, len(g.lines) > 0
}

// splitPrivileges splits "SELECT(a, b), INSERT, ALTER UPDATE" into its
// privileges, column lists dropped.
func splitPrivileges(s string) []string {
	var out []string
	depth, start := 0, 0
	var b strings.Builder
	for i, c := range s {
		switch {
		case c == '(':
			if depth == 0 {
				b.WriteString(s[start:i])
			}
			depth++
		case c == ')':
			depth--
			start = i + 1
		case c == ',' && depth == 0:
			b.WriteString(s[start:i])
			out = append(out, strings.TrimSpace(b.String()))
			b.Reset()
			start = i + 1
		}
	}
	if depth == 0 && start <= len(s) {
		b.WriteString(s[start:])
	}
	if p := strings.TrimSpace(b.String()); p != "" {
		out = append(out, p)
	}
	return out
}

// writePrivilege reports whether a privilege lets its holder change data or
// schema. CREATE TEMPORARY TABLE only makes a session's own temporary
// table, which table functions need: it writes nothing that lasts.
func writePrivilege(p string) bool {
	switch {
	case p == "ALL", p == "INSERT", p == "TRUNCATE":
		return true
	case p == "CREATE TEMPORARY TABLE":
		return false
	}
	for _, prefix := range []string{"CREATE", "ALTER", "DROP"} {
		if p == prefix || strings.HasPrefix(p, prefix+" ") {
			return true
		}
	}
	return false
}

// reachSources are the sources whose table functions reach other hosts.
var reachSources = map[string]bool{
	"URL": true, "REMOTE": true, "S3": true, "HDFS": true, "MYSQL": true, "POSTGRES": true,
	"ODBC": true, "JDBC": true, "MONGO": true, "REDIS": true, "AZURE": true,
	"KAFKA": true, "NATS": true, "RABBITMQ": true,
}

// judgeGrants lowers the settings-and-probes judgement with the grants: a
// capability no grant gives is not held, whatever the profile allows; a
// grant never lifts what the profile or a refused probe forbids. With a
// role granted, an absent privilege may come through the role, so only
// the evidence changes.
func (j *judgement) judgeGrants(g grants) {
	quoted := g.lines
	if len(quoted) > maxGrantEvidence {
		quoted = append(quoted[:maxGrantEvidence:maxGrantEvidence], fmt.Sprintf("… %d more", len(g.lines)-maxGrantEvidence))
	}
	for i, l := range quoted {
		quoted[i] = printable([]byte(l), 200)
	}
	j.evidence = append(j.evidence, "SHOW GRANTS: "+strings.Join(quoted, "; "))
	lower := func(v *datastore.Verdict, key, via, what string) string {
		switch {
		case via != "":
			return fmt.Sprintf("granted %s", via)
		case g.roles != "":
			return fmt.Sprintf("no grant of %s, but role %s may give it", what, g.roles)
		}
		*v = datastore.No
		delete(j.unjudged, key)
		return fmt.Sprintf("no grant of %s", what)
	}
	j.grantDDL = lower(&j.ddl, "ddl", g.write, "CREATE, ALTER, DROP or INSERT")
	if j.file != datastore.Yes { // file() reaching the filesystem is proof enough
		j.grantFile = lower(&j.file, "file_read", g.file, "FILE or SOURCES")
	}
	j.grantReach = lower(&j.tableFunctions, "table_functions", g.reach, "URL, REMOTE, S3 or another remote source")
}
