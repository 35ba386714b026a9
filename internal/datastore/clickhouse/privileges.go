package clickhouse

import (
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// What ClickHouse's privileges mean to an outsider, in the core's terms:
// each fact the session judges is a capability with its impact, and the
// words of a reason and a fix live here, never in the core.
const (
	summaryDDL            = "anyone can create, alter and drop tables (DDL)"
	summaryFile           = "table function file() can read the server's own files under user_files_path"
	summaryTableFunctions = "table functions such as url() and remote() can make the server reach other hosts"

	remediationReadonly       = "Give users that only query a read-only profile (<readonly>1</readonly>)"
	remediationTableFunctions = "Disable table functions such as file(), url() and remote() for untrusted users (readonly=1, or revoke FILE/URL/REMOTE grants on 20.x and later)"
)

// judgement is what Privileges found, before it is told as capabilities.
type judgement struct {
	level                int // the profile's readonly level, -1 when it could not be told
	readonly, ddl        datastore.Verdict
	tableFunctions, file datastore.Verdict
	profile              string // the settings that judged readonly and ddl
	fileWhy              string // what the file() probe got
	// What SHOW GRANTS said of each capability, on servers with RBAC.
	grantDDL, grantFile, grantReach string
	evidence                        []string
	unjudged                        map[string]string // why a verdict is unknown, by its jsonl key
}

// unjudge records why a verdict could not be judged; the first reason stays.
func (j *judgement) unjudge(key, why string) {
	if _, ok := j.unjudged[key]; !ok {
		j.unjudged[key] = why
	}
}

// privileges tells the judgement as capabilities. The jsonl keys ClickHouse
// findings have always had (readonly_level, table_functions, unjudged) are
// kept as Details.
func (j *judgement) privileges() datastore.Privileges {
	capability := func(id, key string, v datastore.Verdict, impact datastore.Impact, summary, evidence, fix string) datastore.Capability {
		if why, ok := j.unjudged[key]; ok && v == datastore.Unknown {
			evidence = why
		}
		return datastore.Capability{ID: id, Granted: v, Impact: impact, Summary: summary, Evidence: evidence, Remediation: fix}
	}
	p := datastore.Privileges{
		Readonly: j.readonly,
		Capabilities: []datastore.Capability{
			capability("ddl", "ddl", j.ddl, datastore.ImpactWrite, summaryDDL, joinWhy(j.profile, j.grantDDL), remediationReadonly),
			capability("file", "file_read", j.file, datastore.ImpactReadFiles, summaryFile, joinWhy(j.fileWhy, j.grantFile), remediationTableFunctions),
			capability("table_functions", "table_functions", j.tableFunctions, datastore.ImpactReachHosts, summaryTableFunctions, j.grantReach, remediationTableFunctions),
		},
		Evidence: j.evidence,
		Details:  map[string]any{"readonly_level": j.level, "table_functions": j.tableFunctions},
	}
	if len(j.unjudged) > 0 {
		p.Details["unjudged"] = j.unjudged
	}
	for _, key := range []string{"readonly", "ddl", "table_functions", "file_read"} {
		if why, ok := j.unjudged[key]; ok {
			p.Evidence = append(p.Evidence, key+" unknown: "+why)
		}
	}
	return p
}

// joinWhy joins the non-empty reasons of a verdict.
func joinWhy(why ...string) string {
	var out []string
	for _, w := range why {
		if w != "" {
			out = append(out, w)
		}
	}
	return strings.Join(out, "; ")
}
