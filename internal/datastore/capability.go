package datastore

import (
	"strings"
	"time"
)

// Impact is what an outsider can do with a capability, in the terms
// severity is judged by: never an engine's own words.
type Impact string

const (
	ImpactWrite      Impact = "write"       // create, change or delete data or schema
	ImpactReadFiles  Impact = "read_files"  // read the server's own files
	ImpactReachHosts Impact = "reach_hosts" // make the server connect to other hosts
	ImpactRunCode    Impact = "run_code"    // run programs on the server's machine
	ImpactAdminister Impact = "administer"  // manage users, grants or settings
)

// Capability is one thing an outsider can do with the access proven,
// judged from what the server reports (settings, roles, grants), never by
// trying it.
type Capability struct {
	ID      string  `json:"id"`      // the engine's own name: "file", "superuser", "FILE", …
	Granted Verdict `json:"granted"` // Unknown (null) when it could not be judged: never guessed
	Impact  Impact  `json:"impact"`
	// Summary says what a granted capability means, as a reason reads:
	// "superuser: COPY … TO PROGRAM runs commands on the server".
	Summary string `json:"summary"`
	// Evidence is what proved it, or why it could not be judged.
	Evidence string `json:"evidence,omitempty"`
	// Remediation says how to take it away.
	Remediation string `json:"remediation,omitempty"`
}

// ServerID names the server process behind a session: two endpoints with
// the same ServerID (HTTP and native, two names of one address) are one
// server, assessed once.
type ServerID struct {
	Engine string
	// Key is what the engine says identifies the process: its address and
	// a system identifier, data directory, uuid or version.
	Key string
	// Started is when the process started, where the engine tells it;
	// computed as now minus uptime, it may differ by a second between two
	// sessions.
	Started time.Time
}

// Same reports whether a and b name one server process.
func (a ServerID) Same(b ServerID) bool {
	if a.Engine != b.Engine || a.Key != b.Key {
		return false
	}
	if a.Started.IsZero() || b.Started.IsZero() {
		return a.Started.IsZero() && b.Started.IsZero()
	}
	d := a.Started.Sub(b.Started)
	return d <= 2*time.Second && d >= -2*time.Second
}

func (a ServerID) String() string {
	s := a.Engine + "|" + a.Key
	if !a.Started.IsZero() {
		s += "|" + a.Started.UTC().Format(time.RFC3339)
	}
	return s
}

// Dialect is a regular-expression syntax a server can run.
type Dialect string

const (
	DialectNone   Dialect = ""
	DialectRE2    Dialect = "re2"    // ClickHouse match(), extractAll()
	DialectPOSIX  Dialect = "posix"  // PostgreSQL's ~ (advanced regular expressions)
	DialectPCRE   Dialect = "pcre"   // MariaDB's REGEXP (PCRE2)
	DialectICU    Dialect = "icu"    // MySQL 8's REGEXP
	DialectLucene Dialect = "lucene" // Elasticsearch and OpenSearch regexp queries
)

// Pushdown is what filtering a session can have its server run. The
// scanner translates rule keywords and patterns only into what it
// declares, and classifies the records read back itself either way.
type Pushdown struct {
	Substring bool    // keyword substring filters
	Regex     Dialect // patterns, in this dialect; DialectNone: none
	// Counts: the server can count matching records over the whole
	// container; otherwise counts come from the records read back.
	Counts bool
}

// Scheme is a URL scheme a driver owns, and the port it means.
type Scheme struct {
	Name string // lower case: "postgres", "clickhouse", …
	Port int
	TLS  bool
}

// QualifiedName is the table's database, path and name joined by dots,
// as a report names it.
func (t Table) QualifiedName() string {
	parts := make([]string, 0, len(t.Path)+2)
	if t.Database != "" {
		parts = append(parts, t.Database)
	}
	parts = append(parts, t.Path...)
	return strings.Join(append(parts, t.Name), ".")
}
