// Package datastore defines what a datastore driver provides to the scanner
// and holds the registry of drivers. Drivers register themselves in init(),
// as database/sql drivers do; the scanner never names a driver.
package datastore

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"
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

// Privileges is what the proven user can do, judged without changing anything.
type Privileges struct {
	Readonly       bool     `json:"readonly"`
	DDL            bool     `json:"ddl"`
	FileRead       bool     `json:"file_read"`
	TableFunctions bool     `json:"table_functions"`
	ReadonlyLevel  int      `json:"readonly_level"` // -1 when it could not be told
	Evidence       []string `json:"evidence,omitempty"`
}

// Column is one column of a table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Table is one table with what the server knows of its size. Rows and Bytes
// are -1 when unknown; RowsExact says whether Rows is the server's exact count.
type Table struct {
	Database  string   `json:"-"`
	Name      string   `json:"name"`
	Engine    string   `json:"engine"`
	Rows      int64    `json:"rows"`
	RowsExact bool     `json:"rows_exact"`
	Bytes     int64    `json:"bytes"`
	Columns   []Column `json:"columns,omitempty"`
	Classes   []string `json:"classes,omitempty"`
	// Leaks maps a detection kind to the number of rows the server counted
	// holding a candidate for it, for kinds confirmed in fetched rows.
	Leaks   map[string]int64 `json:"leaks,omitempty"`
	Sampled *SampleStats     `json:"sampled,omitempty"`
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
}

// Limits bound what one Sample may cost on the server and on the wire.
type Limits struct {
	Rows     int           // rows fetched per query
	Bytes    int64         // bytes read back in all
	Timeout  time.Duration // per query
	Keywords []string      // substrings pushed down to the server as a pre-filter
	Patterns []string      // RE2 patterns pushed down where no keyword exists
	Random   int           // rows fetched at random, besides the filtered ones
	// Exact names patterns (a rule's full pattern, RE2) to count, each over
	// the rows holding one of its keywords: a tighter size than a keyword's
	// count, for the cost of regular expressions on a few rows.
	Exact map[string]Match
}

// Match is a pattern and the keywords one of which every match holds.
type Match struct {
	Keywords []string
	Pattern  string
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
}

// Driver finds one kind of datastore.
type Driver interface {
	Name() string
	DefaultPorts() []Port
	// Probe reports whether ep speaks this datastore: nil, nil means "not this one".
	Probe(ctx context.Context, ep Endpoint, timeout time.Duration) (*Service, error)
	// Open opens a read-only session on a service whose Auth is AuthNone.
	Open(ctx context.Context, svc *Service, timeout time.Duration) (Session, error)
}

// Session is opened only where access was proven.
type Session interface {
	// ServerID names the server process behind the session, so that two
	// endpoints of one server (HTTP and native) are assessed once.
	ServerID(ctx context.Context) (string, error)
	Privileges(ctx context.Context) (Privileges, error)
	Inventory(ctx context.Context) (Inventory, error)
	Sample(ctx context.Context, t Table, lim Limits) (Rows, error)
	// Remediation lists how to close the exposure, given what was found.
	Remediation(p Privileges) []string
	Close() error
}

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
)

// Register makes a driver available. It panics on a duplicate name, as
// database/sql does: that is a programming error.
func Register(d Driver) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := drivers[d.Name()]; dup {
		panic(fmt.Sprintf("datastore: Register called twice for driver %q", d.Name()))
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
