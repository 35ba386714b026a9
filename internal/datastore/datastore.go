// Package datastore defines what a datastore driver provides to the scanner
// and holds the registry of drivers. Drivers register themselves in init(),
// as database/sql drivers do; the scanner never names a driver.
package datastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leakhound/leakhound/internal/target"
)

// Port is a default port of a datastore and the protocol spoken on it.
type Port struct {
	Number   int
	Protocol string // "http", "native", …
	TLS      bool
}

// Endpoint is one reachable TCP address, with the name it was reached by.
type Endpoint struct {
	Host string // name the user gave or discovered; equals IP for bare addresses
	IP   net.IP
	Zone string // of a link-local IPv6 address: the interface it is reached through
	Port int
}

// Addr returns the dialable host:port of the endpoint.
func (e Endpoint) Addr() string {
	ip := e.IP.String()
	if e.Zone != "" {
		ip += "%" + e.Zone
	}
	return net.JoinHostPort(ip, strconv.Itoa(e.Port))
}

func (e Endpoint) String() string { return e.Addr() }

// Auth says what the datastore demanded of an anonymous/default client.
type Auth string

const (
	AuthNone         Auth = "none"
	AuthRequired     Auth = "required"
	AuthIPRestricted Auth = "ip-restricted"
	AuthUnknown      Auth = "unknown"
)

// Service is a datastore proven to be answering on an endpoint.
type Service struct {
	Endpoint    Endpoint
	Engine      string // driver name
	Protocol    string
	TLS         bool
	Version     string
	Timezone    string
	DisplayName string
	Auth        Auth
	AuthCode    int    // the server's own error code behind Auth, 0 if none
	AuthMessage string // the server's message, for the reasons; never holds a secret we sent
	User        string // the user access was proven as
	Cert        *Cert  // the certificate the server showed, when it spoke TLS
	// Notes are what the probe found odd about the server's answers, such
	// as a version no real server sends; each is worth a line in a report.
	Notes []string
}

// SessionMemory is the most memory a session may hold of what its server
// sent (cells, rows, names), whatever the server sends; the scanner runs at
// most its memory budget / SessionMemory sessions at once.
const SessionMemory = 64 << 20

// Verdict is what a judgement of one capability found: granted, refused,
// or unknown when the server's answers could not settle it. Unknown is never
// read as granted; in JSON it is null.
type Verdict int8

const (
	Unknown Verdict = iota
	No
	Yes
)

// VerdictOf turns a settled judgement into a Verdict.
func VerdictOf(b bool) Verdict {
	if b {
		return Yes
	}
	return No
}

// Known reports whether the verdict was settled.
func (v Verdict) Known() bool { return v == Yes || v == No }

// Not negates a settled verdict; Unknown stays Unknown.
func (v Verdict) Not() Verdict {
	switch v {
	case Yes:
		return No
	case No:
		return Yes
	}
	return Unknown
}

func (v Verdict) String() string {
	switch v {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unknown"
}

// MarshalJSON writes true, false or null.
func (v Verdict) MarshalJSON() ([]byte, error) {
	switch v {
	case Yes:
		return []byte("true"), nil
	case No:
		return []byte("false"), nil
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads true, false or null.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Yes
	case "false":
		*v = No
	case "null":
		*v = Unknown
	default:
		return fmt.Errorf("verdict %.20q is not true, false or null", b)
	}
	return nil
}

// Column is one column of a table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Table is one table with what the server knows of its size. Rows and Bytes
// are -1 when unknown; RowsExact says whether Rows is the server's exact count.
type Table struct {
	Database string `json:"-"`
	// Path is where the table lives below its database, outermost first:
	// PostgreSQL's schema; nil where a database holds tables directly.
	Path []string `json:"path,omitempty"`
	Name string   `json:"name"`
	// Kind is what the container is: "table", "view", "collection",
	// "index", "keyspace", "topic", …
	Kind      string   `json:"kind,omitempty"`
	Engine    string   `json:"engine"` // the storage engine, where there is one
	Rows      int64    `json:"rows"`
	RowsExact bool     `json:"rows_exact"`
	Bytes     int64    `json:"bytes"`
	Columns   []Column `json:"columns,omitempty"`
	Classes   []string `json:"classes,omitempty"`
	// Leaks maps a detection kind to the number of rows the server counted
	// holding a candidate for it, for kinds confirmed in fetched rows.
	Leaks map[string]int64 `json:"leaks,omitempty"`
	// LeaksCounted says where Leaks' numbers come from: "server", counted
	// by the server over the whole table; "estimate", counted by the server
	// over a random part of it and scaled to its size; or "sample", counted
	// in the records read back.
	LeaksCounted string `json:"leaks_counted,omitempty"`
	// Conversations names where the table's messages to an assistant are,
	// for a table classed chat_log: a column, or column[key] when they are
	// values of a key/value pair ("string.values[message]").
	Conversations []string `json:"conversations,omitempty"`
	// Context counts, by kind, what the table holds that is context, not
	// a leak by itself (IP addresses), counted as Leaks are (LeaksCounted).
	Context map[string]int64 `json:"context,omitempty"`
	Sampled *SampleStats     `json:"sampled,omitempty"`
	// Truncation says why what was read of this table is incomplete.
	Truncation []string `json:"truncation,omitempty"`
}

// ParseCount reads a count a server sent as text (blanks around it
// ignored): -1 when it is not a number, the largest int64 when it is a
// larger one (a UInt64 sum can be): a peer can claim any size, and one past
// int64 must not read as unknown.
func ParseCount(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return math.MaxInt64
	}
	if err != nil {
		return -1
	}
	return n
}

// AddCount adds two counts of rows or bytes, stopping at the largest int64
// rather than wrapping: a peer can claim any size, and a sum that wraps
// negative reads as "nothing here".
func AddCount(a, b int64) int64 {
	if a > 0 && b > math.MaxInt64-a {
		return math.MaxInt64
	}
	if a < 0 && b < math.MinInt64-a {
		return math.MinInt64
	}
	return a + b
}

// SampleStats says how much was read back to size a table.
type SampleStats struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// Database is one database. System databases are summarised: their tables
// are counted, not listed.
type Database struct {
	Name string `json:"name"`
	// Engine is set for a database whose tables live elsewhere (MySQL,
	// PostgreSQL, S3, …): it is listed, never opened.
	Engine     string  `json:"engine,omitempty"`
	System     bool    `json:"system,omitempty"`
	TableCount int     `json:"table_count"`
	Tables     []Table `json:"tables,omitempty"`
}

// Inventory is every database and table the user can see.
type Inventory struct {
	Databases []Database `json:"databases"`
	Truncated bool       `json:"truncated,omitempty"` // a limit cut the listing short
	// Truncation says which limit cut it, and where: "tables listed for
	// the first 1000 of 100000 databases", "server budget ran out after
	// sampling 12 of 40 tables".
	Truncation []string `json:"truncation,omitempty"`
	// RansomNotes are notes wipers left on the server (see RansomNote).
	RansomNotes []RansomNote `json:"ransom_notes,omitempty"`
}

// Truncate records that a limit cut the inventory short, and why.
func (inv *Inventory) Truncate(why string) {
	inv.Truncated = true
	inv.Truncation = append(inv.Truncation, why)
}

// Limits bound what one Sample may cost on the server and on the wire.
type Limits struct {
	Rows     int           // rows fetched per query
	Bytes    int64         // bytes read back in all
	Timeout  time.Duration // per query
	Keywords []string      // substrings pushed down to the server as a pre-filter
	Patterns []string      // patterns, in the session's dialect, pushed down where no keyword exists
	Random   int           // rows fetched at random, besides the filtered ones
	// Exact names patterns (a rule's full pattern, in the session's
	// dialect) to count, each over
	// the rows holding one of its keywords: a tighter size than a keyword's
	// count, for the cost of regular expressions on a few rows.
	Exact map[string]Match
	// Distinct asks, where the session's Pushdown has Distinct, for rows
	// by the values of patterns rather than by keywords: for each entry up
	// to Rows rows, each holding a value of the pattern no other row
	// returned for it holds, and none holding one of its Exclude. A
	// keyword held by hundreds of rows of one documentation value then
	// costs one row, and the rows of a rare value are not crowded out.
	// Keywords of an entry are still counted (Rows.Counts) but fetched
	// under the entry, not each on its own.
	Distinct map[string]Extract
}

// Match is a pattern and the keywords one of which every match holds.
type Match struct {
	Keywords []string
	Pattern  string
}

// Extract is a pattern whose values a server finds and groups rows by.
type Extract struct {
	Keywords []string // every match holds one: the rows searched are those holding one
	// Pattern is in the session's dialect; its first group is the value
	// (the whole match where the dialect cannot return a group).
	Pattern string
	// Exclude are pieces of documentation and placeholder values: a value
	// holding one is not a reason to fetch a row.
	Exclude []string
}

// Rows is what a Sample read: text-like columns only, values as text.
type Rows struct {
	Columns []string
	Values  [][]string
	// Counts maps each pushed-down keyword or pattern, and each name of
	// Limits.Exact, to the rows the server counted holding it.
	Counts    map[string]int64
	ReadRows  int64
	ReadBytes int64
	// Truncation says why the sample is less than was asked for: a query
	// that ran out of time, an answer cut at a cap, a budget spent.
	Truncation []string
	// Estimated: the server counted Counts over a random part of a large
	// table and scaled them to its size.
	Estimated bool
}

// ErrSessionCap is returned by a Session that has run as many per-table
// queries as it allows itself: a server listing a million tables costs a
// bounded number of queries, not a million.
var ErrSessionCap = errors.New("the session's cap on per-table queries is reached")

// Driver finds one kind of datastore.
type Driver interface {
	Name() string
	DefaultPorts() []Port
	// Schemes are the URL schemes the driver owns, each with the port it
	// means; Register makes them known to the target parser.
	Schemes() []Scheme
	// Probe reports whether ep speaks this datastore: nil, nil means "not
	// this one". look is the scanner's first look at the port, shared by
	// every driver: a driver returns nil, nil at once when the look rules
	// it out, and probes fully when the look is zero (none was taken). The
	// scanner never calls Probe on a Silent port.
	Probe(ctx context.Context, ep Endpoint, look FirstLook, timeout time.Duration) (*Service, error)
	// Open opens a read-only session on a service whose Auth is AuthNone.
	Open(ctx context.Context, svc *Service, timeout time.Duration) (Session, error)
}

// Session is opened only where access was proven.
type Session interface {
	// ServerID names the server process behind the session, so that two
	// endpoints of one server (HTTP and native) are assessed once.
	ServerID(ctx context.Context) (ServerID, error)
	Privileges(ctx context.Context) (Privileges, error)
	Inventory(ctx context.Context) (Inventory, error)
	// Pushdown says which filters the server can run for Sample.
	Pushdown() Pushdown
	// Sample reads records of t: those matching lim's keywords and
	// patterns (already in the session's dialect), plus lim.Random at
	// random.
	Sample(ctx context.Context, t Table, lim Limits) (Rows, error)
	// Remediation lists how to close the exposure, given what was found;
	// each granted capability's own Remediation is added by the assessment.
	Remediation(p Privileges) []string
	Close() error
}

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
)

// Register makes a driver available, and its URL schemes known to the
// target parser. It panics on a duplicate name or a scheme another driver
// owns, as database/sql does: that is a programming error.
func Register(d Driver) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := drivers[d.Name()]; dup {
		panic(fmt.Sprintf("datastore: Register called twice for driver %q", d.Name()))
	}
	for _, sc := range d.Schemes() {
		target.RegisterScheme(sc.Name, sc.Port)
	}
	drivers[d.Name()] = d
}

// Drivers returns the registered drivers sorted by name.
func Drivers() []Driver {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Driver, 0, len(drivers))
	for _, d := range drivers {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Lookup returns the driver registered under name.
func Lookup(name string) (Driver, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := drivers[name]
	return d, ok
}
