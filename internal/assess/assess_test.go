package assess

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
)

// readonly is what a read-only profile proves.
var readonly = &datastore.Privileges{Readonly: datastore.Yes, DDL: datastore.No, FileRead: datastore.No, TableFunctions: datastore.No}

func TestAssess(t *testing.T) {
	userTable := func(classes ...string) *datastore.Inventory {
		return &datastore.Inventory{Databases: []datastore.Database{
			{Name: "system", System: true, TableCount: 30},
			{Name: "default", Tables: []datastore.Table{{Name: "log_stream", Rows: 1000, Classes: classes}}},
		}}
	}
	tests := []struct {
		name   string
		auth   datastore.Auth
		tls    bool
		priv   *datastore.Privileges
		inv    *datastore.Inventory
		want   Severity
		reason string
	}{
		{"password required, TLS", datastore.AuthRequired, true, nil, nil, Info, "password required"},
		{"password required, plaintext", datastore.AuthRequired, false, nil, nil, Low, "plaintext"},
		{"ip restricted", datastore.AuthIPRestricted, false, nil, nil, Info, "refused from this address"},
		{"open, empty, read-only", datastore.AuthNone, false, readonly, &datastore.Inventory{}, Medium, "no password"},
		{"open, data, read-only", datastore.AuthNone, false, readonly, userTable(), High, "user tables readable"},
		{"open, file()", datastore.AuthNone, false, &datastore.Privileges{Readonly: datastore.Yes, DDL: datastore.No, FileRead: datastore.Yes, TableFunctions: datastore.Yes}, &datastore.Inventory{}, High, "file()"},
		{"open, writable", datastore.AuthNone, false, &datastore.Privileges{Readonly: datastore.No, DDL: datastore.Yes, FileRead: datastore.No, TableFunctions: datastore.No}, &datastore.Inventory{}, High, "drop tables"},
		{"open, secrets", datastore.AuthNone, false, readonly, userTable("secret"), Critical, "secrets"},
		{"open, chat logs", datastore.AuthNone, false, readonly, userTable("chat_log"), Critical, "chat/prompt logs"},
		{"open, nothing judged", datastore.AuthNone, false,
			&datastore.Privileges{ReadonlyLevel: -1, Unjudged: map[string]string{"readonly": "the settings answer was empty", "file_read": "no answer"}},
			&datastore.Inventory{}, Medium, "could not tell whether writes are possible: the settings answer was empty"},
		{"open, file() unknown", datastore.AuthNone, false,
			&datastore.Privileges{Readonly: datastore.Yes, DDL: datastore.No, Unjudged: map[string]string{"file_read": "the file() probe got no answer: timeout"}},
			&datastore.Inventory{}, Medium, "could not tell whether file() can read the server's files: the file() probe got no answer"},
		{"open, personal data", datastore.AuthNone, false, readonly, userTable("pii"), Critical, "personal data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &datastore.Service{Auth: tt.auth, TLS: tt.tls, User: "default", AuthCode: 194}
			f := &Finding{Privileges: tt.priv, Inventory: tt.inv}
			Assess(f, svc, []string{"fix it"})
			if f.Severity != tt.want {
				t.Errorf("severity = %s, want %s (reasons %q)", f.Severity, tt.want, f.Reasons)
			}
			if !strings.Contains(strings.Join(f.Reasons, "; "), tt.reason) {
				t.Errorf("reasons %q do not mention %q", f.Reasons, tt.reason)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for _, name := range []string{"info", "low", "medium", "high", "critical", "HIGH"} {
		s, err := ParseSeverity(name)
		if err != nil || s.String() != strings.ToLower(name) {
			t.Errorf("ParseSeverity(%q) = %v, %v", name, s, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil || !strings.Contains(err.Error(), "severe") {
		t.Errorf("ParseSeverity(severe) error = %v, want one naming the input", err)
	}
}

// Two tables claiming 2^63-1 rows each must not wrap the total negative and
// drop the reason that the tables are readable.
func TestAssessRowTotalSaturates(t *testing.T) {
	const huge = int64(^uint64(0) >> 1)
	f := &Finding{Privileges: readonly, Inventory: &datastore.Inventory{Databases: []datastore.Database{
		{Name: "default", Tables: []datastore.Table{{Name: "a", Rows: huge}, {Name: "b", Rows: huge}, {Name: "c", Rows: 5}}},
	}}}
	Assess(f, &datastore.Service{Auth: datastore.AuthNone, User: "default"}, nil)
	want := fmt.Sprintf("3 user tables readable, %d rows", huge)
	if !slices.Contains(f.Reasons, want) || f.Severity != High {
		t.Errorf("Assess(two tables of 2^63-1 rows) = %s, reasons %q, want high and %q", f.Severity, f.Reasons, want)
	}
}

// A cut inventory says so among the reasons.
func TestAssessTruncation(t *testing.T) {
	inv := &datastore.Inventory{}
	inv.Truncate("server budget ran out after counting 12 of 40 tables")
	f := &Finding{Privileges: readonly, Inventory: inv}
	Assess(f, &datastore.Service{Auth: datastore.AuthNone, User: "default"}, nil)
	if !slices.Contains(f.Reasons, "incomplete: server budget ran out after counting 12 of 40 tables") {
		t.Errorf("Assess(truncated inventory) reasons = %q, want the truncation named", f.Reasons)
	}
}
