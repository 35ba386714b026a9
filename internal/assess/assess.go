// Package assess turns what a scan proved and measured about one service
// into a finding: a severity, the reasons that produced it, and how to close
// the exposure.
package assess

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Severity levels, lowest first.
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string { return severityNames[s] }

// MarshalText makes a severity its name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity reads a severity name.
func ParseSeverity(name string) (Severity, error) {
	i := slices.Index(severityNames, strings.ToLower(name))
	if i < 0 {
		return 0, fmt.Errorf("severity %q is not one of %s", name, strings.Join(severityNames, ", "))
	}
	return Severity(i), nil
}

// Location says where in a datastore a value was found.
type Location struct {
	Database string `json:"database"`
	// Path is where the table lives below its database (a schema), as the
	// table's own path says; absent where a database holds tables directly.
	Path   []string `json:"path,omitempty"`
	Table  string   `json:"table"`
	Column string   `json:"column"`
	Row    int64    `json:"row,omitempty"` // 1-based ordinal among the rows read back
}

// Detection is a classified value in a datastore, never the value itself.
type Detection struct {
	Category    string   `json:"category"`
	Kind        string   `json:"kind"`
	Rule        string   `json:"rule"`
	Location    Location `json:"location"`
	Redacted    string   `json:"redacted"`
	Fingerprint string   `json:"fingerprint"`
	Validated   bool     `json:"validated,omitempty"`
	Occurrences int      `json:"occurrences"` // times seen in the rows read back
}

// Stats says what assessing the service cost.
type Stats struct {
	RowsRead   int64 `json:"rows_read"`
	BytesRead  int64 `json:"bytes_read"`
	DurationMS int64 `json:"duration_ms"`
}

// Finding is one datastore service as reported: the jsonl record users
// build on (DESIGN.md, "Contracts").
type Finding struct {
	Host        string          `json:"host"`
	IP          string          `json:"ip"`
	Port        int             `json:"port"`
	Engine      string          `json:"engine"`
	Protocol    string          `json:"protocol"`
	TLS         bool            `json:"tls"`
	Version     string          `json:"version,omitempty"`
	Timezone    string          `json:"timezone,omitempty"`
	DisplayName string          `json:"display_name,omitempty"`
	Auth        datastore.Auth  `json:"auth"`
	AuthCode    int             `json:"auth_code,omitempty"`
	TLSCert     *datastore.Cert `json:"tls_cert,omitempty"` // what the server's certificate says, recorded, never trusted
	Notes       []string        `json:"notes,omitempty"`    // what the probe found odd, such as an implausible version
	Severity    Severity        `json:"severity"`
	// Infected: the datastore holds a ransom note (Inventory.RansomNotes):
	// a stranger got in first.
	Infected    bool                  `json:"infected,omitempty"`
	Privileges  *datastore.Privileges `json:"privileges,omitempty"`
	Inventory   *datastore.Inventory  `json:"inventory,omitempty"`
	Detections  []Detection           `json:"detections,omitempty"`
	Reasons     []string              `json:"reasons"`
	Remediation []string              `json:"remediation"`
	Errors      []string              `json:"errors,omitempty"` // what could not be done, and why
	// SameServerAs names the endpoint (ip:port) whose finding was made from
	// the same server process, when this endpoint shares its inventory.
	SameServerAs string `json:"same_server_as,omitempty"`
	Stats        *Stats `json:"stats,omitempty"`
}

// Classes are what the tables of a finding hold, in reporting order.
var classOrder = []string{"chat_log", "secret", "pii"}

// Assess sets the severity, reasons and remediation of f from what the scan
// proved. remediation is the driver's advice for the privileges found.
func Assess(f *Finding, svc *datastore.Service, remediation []string) {
	f.Reasons, f.Remediation = []string{}, []string{}
	defer func() {
		if f.Remediation == nil { // the contract has a list, never null
			f.Remediation = []string{}
		}
	}()
	switch svc.Auth {
	case datastore.AuthRequired:
		f.Severity = Info
		who := "for user " + svc.User
		if svc.User == "" { // an engine whose login names no user before the credentials
			who = "(no user named)"
		}
		why := fmt.Sprintf("password required %s (code %d)", who, svc.AuthCode)
		if svc.AuthMessage != "" {
			// The code alone means little outside its engine.
			why = fmt.Sprintf("password required %s (code %d: %s)", who, svc.AuthCode, svc.AuthMessage)
		}
		f.Reasons = append(f.Reasons, why)
		if !svc.TLS {
			f.Severity = Low
			f.Reasons = append(f.Reasons, "login is offered in plaintext, without TLS")
			f.Remediation = append(f.Remediation, "Serve only TLS and close the plaintext port")
		}
		return
	case datastore.AuthIPRestricted:
		f.Severity = Info
		who := "refused"
		if svc.User != "" { // an engine may refuse an address before any user is named
			who = "user " + svc.User + " refused"
		}
		f.Reasons = append(f.Reasons, fmt.Sprintf("%s from this address (code %d): the server is reachable but restricts by network", who, svc.AuthCode))
		return
	case datastore.AuthUnknown:
		f.Severity = Low
		f.Reasons = append(f.Reasons, fmt.Sprintf("the server answered the login with error %d: %s", svc.AuthCode, svc.AuthMessage))
		return
	}

	f.Severity = Medium
	if svc.User != "" {
		f.Reasons = append(f.Reasons, fmt.Sprintf("no password for user %s", svc.User))
	} else {
		f.Reasons = append(f.Reasons, "no credentials asked: "+svc.AuthMessage)
	}
	raise := func(s Severity) {
		if s > f.Severity {
			f.Severity = s
		}
	}
	var fixes []string
	if p := f.Privileges; p != nil {
		// Only a capability proven is a reason to raise the severity: every
		// impact (write, read files, reach hosts, run code, administer) is
		// more than reading, so each raises it to high, whatever the
		// engine. One that could not be judged is said to be unknown, and
		// why.
		for _, c := range p.Capabilities {
			switch c.Granted {
			case datastore.Yes:
				raise(High)
				f.Reasons = append(f.Reasons, c.Summary)
				if c.Remediation != "" {
					fixes = append(fixes, c.Remediation)
				}
			case datastore.Unknown:
				why := c.Evidence
				if why == "" {
					why = "no evidence either way"
				}
				f.Reasons = append(f.Reasons, fmt.Sprintf("could not tell whether %s: %s", c.Summary, why))
			}
		}
	}
	if inv := f.Inventory; inv != nil {
		var rows int64
		var tables int
		classes := map[string][]string{}
		for _, db := range inv.Databases {
			if db.System {
				continue
			}
			for _, t := range db.Tables {
				tables++
				if t.Rows > 0 {
					rows = datastore.AddCount(rows, t.Rows)
				}
				for _, c := range t.Classes {
					where := qualified(db, t)
					if c == "chat_log" && len(t.Conversations) > 0 {
						// The column, or column[key] of a key/value pair:
						// where to look, and what to purge.
						where += " (" + strings.Join(capList(t.Conversations, 3), ", ") + ")"
					}
					classes[c] = append(classes[c], where)
				}
			}
		}
		if rows > 0 {
			raise(High)
			f.Reasons = append(f.Reasons, fmt.Sprintf("%d user tables readable, %d rows", tables, rows))
		}
		for _, c := range classOrder {
			if len(classes[c]) == 0 {
				continue
			}
			raise(Critical)
			f.Reasons = append(f.Reasons, fmt.Sprintf("%s in %s", classPhrase(c, f.Detections), strings.Join(capList(classes[c], 5), ", ")))
		}
		for _, n := range inv.RansomNotes {
			raise(Critical)
			f.Infected = true
			f.Reasons = append(f.Reasons, fmt.Sprintf("already breached: a ransom note in %s: %q", datastore.Table{Database: n.Database, Name: n.Name}.QualifiedName(), n.Text))
		}
		for _, t := range inv.Truncation {
			f.Reasons = append(f.Reasons, "incomplete: "+t)
		}
	}
	f.Remediation = slices.Clone(remediation)
	if f.Infected {
		fixes = append(fixes, "Treat the server as breached: its data may have been copied before it was wiped; restore from a backup made before the note, rotate every credential it held, and close access before bringing it back")
	}
	for _, fix := range fixes {
		if !slices.Contains(f.Remediation, fix) {
			f.Remediation = append(f.Remediation, fix)
		}
	}
}

// qualified names t as reasons do: database, path and name.
func qualified(db datastore.Database, t datastore.Table) string {
	if t.Database == "" {
		t.Database = db.Name
	}
	return t.QualifiedName()
}

func classPhrase(class string, ds []Detection) string {
	kinds := map[string]bool{}
	for _, d := range ds {
		if d.Category == class {
			kinds[d.Kind] = true
		}
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	switch class {
	case "chat_log":
		return "chat/prompt logs"
	case "secret":
		return "secrets (" + strings.Join(ks, ", ") + ")"
	case "pii":
		return "personal data (" + strings.Join(ks, ", ") + ")"
	}
	return class
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
