package datastore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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
	// Distinct: the server can extract a pattern's values and return rows
	// grouped by value (Limits.Distinct). Needs Regex.
	Distinct bool
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

// Privileges is what the proven user can do, judged without changing
// anything: whether it can write at all, and each capability with its
// impact. A capability that could not be judged is Unknown, and its
// Evidence says why.
type Privileges struct {
	Readonly     Verdict // the user cannot write anything
	Capabilities []Capability
	Evidence     []string
	// Details are engine-specific facts kept in the jsonl privileges
	// object as top-level keys (ClickHouse: readonly_level,
	// table_functions), so that the contract's keys stay; the core never
	// reads them.
	Details map[string]any
}

// Verdict is the verdict over the capabilities of the impacts given: Yes
// if any is granted, else Unknown if any could not be judged, else No
// (none, or all refused).
func (p Privileges) Verdict(impacts ...Impact) Verdict {
	v := No
	for _, c := range p.Capabilities {
		if !slices.Contains(impacts, c.Impact) {
			continue
		}
		switch c.Granted {
		case Yes:
			return Yes
		case Unknown:
			v = Unknown
		}
	}
	return v
}

// ReadonlyByCapabilities judges Readonly from the capabilities: Yes when
// nothing that changes the server (writing, running programs,
// administering users or settings) is granted and each such capability was
// settled; Unknown when one was not.
func (p Privileges) ReadonlyByCapabilities() Verdict {
	return p.Verdict(ImpactWrite, ImpactRunCode, ImpactAdminister).Not()
}

// privilegesKeys are the keys MarshalJSON writes itself; Details may not
// take them.
var privilegesKeys = map[string]bool{"readonly": true, "ddl": true, "file_read": true, "capabilities": true, "evidence": true}

// MarshalJSON writes the contract's keys first: readonly; ddl, the
// verdict over capabilities of impact write; file_read, over read_files;
// then the Details in key order, the capabilities and the evidence.
func (p Privileges) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	put := func(key string, v any) error {
		if b.Len() > 0 {
			b.WriteByte(',')
		} else {
			b.WriteByte('{')
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("privileges %s: %w", key, err)
		}
		b.Write(j)
		return nil
	}
	put("readonly", p.Readonly)
	put("ddl", p.Verdict(ImpactWrite))
	put("file_read", p.Verdict(ImpactReadFiles))
	keys := make([]string, 0, len(p.Details))
	for k := range p.Details {
		if !privilegesKeys[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := put(k, p.Details[k]); err != nil {
			return nil, err
		}
	}
	caps := p.Capabilities
	if caps == nil {
		caps = []Capability{}
	}
	put("capabilities", caps)
	if len(p.Evidence) > 0 {
		put("evidence", p.Evidence)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON wrote. ddl and file_read are
// derived from the capabilities, so they are not kept; every other key
// but capabilities and evidence becomes a Detail.
func (p *Privileges) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*p = Privileges{}
	for k, v := range m {
		var err error
		switch k {
		case "readonly":
			err = json.Unmarshal(v, &p.Readonly)
		case "ddl", "file_read":
			var x Verdict
			err = json.Unmarshal(v, &x)
		case "capabilities":
			err = json.Unmarshal(v, &p.Capabilities)
		case "evidence":
			err = json.Unmarshal(v, &p.Evidence)
		default:
			var x any
			err = json.Unmarshal(v, &x)
			if p.Details == nil {
				p.Details = map[string]any{}
			}
			p.Details[k] = x
		}
		if err != nil {
			return fmt.Errorf("privileges %s: %w", k, err)
		}
	}
	return nil
}
