package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/datastore"
)

// Privileges that could not be judged print as unknown, never as yes or
// no, and a table's cut sample says why.
func TestUnknownPrivilegesAndTruncation(t *testing.T) {
	f := &assess.Finding{Host: "h", IP: "127.0.0.1", Port: 8123, Engine: "clickhouse", Protocol: "http", Auth: datastore.AuthNone,
		Privileges: &datastore.Privileges{Readonly: datastore.Unknown, Capabilities: []datastore.Capability{
			{ID: "ddl", Granted: datastore.Unknown, Impact: datastore.ImpactWrite},
			{ID: "file", Granted: datastore.No, Impact: datastore.ImpactReadFiles},
			{ID: "table_functions", Granted: datastore.Yes, Impact: datastore.ImpactReachHosts},
		}},
		Inventory: &datastore.Inventory{Databases: []datastore.Database{{Name: "default", Tables: []datastore.Table{
			{Name: "t", Engine: "Log", Rows: 10, Truncation: []string{"read budget of 1024 bytes spent"}},
		}}}},
	}
	for format, want := range map[string][]string{
		"text": {"readonly=unknown", "capabilities: ddl=unknown (write) file=no (read_files) table_functions=yes (reach_hosts)",
			"default.t: read budget of 1024 bytes spent"},
		"markdown": {"| Read-only | unknown |", "| Capability ddl (write) | unknown |", "| Capability file (read\\_files) | no |",
			"| Capability table\\_functions (reach\\_hosts) | yes |"},
	} {
		var b bytes.Buffer
		w, err := New(format, &b, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatalf("%s: Write = %v", format, err)
		}
		for _, s := range want {
			if !strings.Contains(b.String(), s) {
				t.Errorf("%s report lacks %q:\n%s", format, s, b.String())
			}
		}
	}
}

// A table below a schema is named with its path, its kind is shown, and
// leaks counted in the records read back say so.
func TestPathKindAndSampleCounts(t *testing.T) {
	f := &assess.Finding{Host: "h", IP: "127.0.0.1", Port: 5432, Engine: "postgresql", Protocol: "postgres", Auth: datastore.AuthNone,
		Inventory: &datastore.Inventory{Databases: []datastore.Database{{Name: "aiapp", Tables: []datastore.Table{
			{Database: "aiapp", Path: []string{"public"}, Name: "customers", Kind: "view", Engine: "", Rows: 10,
				Classes: []string{"pii"}, Leaks: map[string]int64{"email": 4}, LeaksCounted: "sample"},
		}}}},
		Detections: []assess.Detection{{Category: "pii", Kind: "email", Rule: "email",
			Location: assess.Location{Database: "aiapp", Path: []string{"public"}, Table: "customers", Column: "mail"}, Redacted: "…@example.com"}},
	}
	for format, want := range map[string][]string{
		"text":     {"aiapp.public.customers  view", "aiapp.public.customers: email 4, counted in the rows read back", "aiapp.public.customers.mail"},
		"markdown": {"| `aiapp.public.customers` | view |", "(rows read back: email 4)", "aiapp.public.customers.mail"},
	} {
		var b bytes.Buffer
		w, err := New(format, &b, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatalf("%s: Write = %v", format, err)
		}
		for _, s := range want {
			if !strings.Contains(b.String(), s) {
				t.Errorf("%s report lacks %q:\n%s", format, s, b.String())
			}
		}
	}
}
