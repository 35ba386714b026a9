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
		Privileges: &datastore.Privileges{Readonly: datastore.Unknown, DDL: datastore.Unknown, FileRead: datastore.No, TableFunctions: datastore.Yes, ReadonlyLevel: -1},
		Inventory: &datastore.Inventory{Databases: []datastore.Database{{Name: "default", Tables: []datastore.Table{
			{Name: "t", Engine: "Log", Rows: 10, Truncation: []string{"read budget of 1024 bytes spent"}},
		}}}},
	}
	for format, want := range map[string][]string{
		"text":     {"readonly=unknown", "ddl=unknown", "file()=no", "default.t: read budget of 1024 bytes spent"},
		"markdown": {"| Read-only | unknown |", "| DDL allowed | unknown |", "| file() usable | no |"},
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
