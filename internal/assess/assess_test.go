package assess

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
)

// readonly is what a read-only profile proves.
var readonly = &datastore.Privileges{Readonly: datastore.Yes, Capabilities: []datastore.Capability{
	{ID: "ddl", Granted: datastore.No, Impact: datastore.ImpactWrite, Summary: "anyone can drop tables"},
	{ID: "file", Granted: datastore.No, Impact: datastore.ImpactReadFiles, Summary: "the server's files can be read"},
}}

// granting is a profile of one capability of impact i, granted as v.
func granting(i datastore.Impact, v datastore.Verdict) *datastore.Privileges {
	return &datastore.Privileges{Readonly: datastore.Unknown, Capabilities: []datastore.Capability{
		{ID: "cap-" + string(i), Granted: v, Impact: i, Summary: "outsiders can " + string(i), Evidence: "evidence of " + string(i), Remediation: "take " + string(i) + " away"},
	}}
}

type assessCase struct {
	name   string
	auth   datastore.Auth
	tls    bool
	priv   *datastore.Privileges
	inv    *datastore.Inventory
	want   Severity
	reason string
}

func TestAssess(t *testing.T) {
	userTable := func(classes ...string) *datastore.Inventory {
		return &datastore.Inventory{Databases: []datastore.Database{
			{Name: "system", System: true, TableCount: 30},
			{Name: "default", Tables: []datastore.Table{{Name: "log_stream", Rows: 1000, Classes: classes}}},
		}}
	}
	tests := []assessCase{
		{"password required, TLS", datastore.AuthRequired, true, nil, nil, Info, "password required"},
		{"password required, plaintext", datastore.AuthRequired, false, nil, nil, Low, "plaintext"},
		{"ip restricted", datastore.AuthIPRestricted, false, nil, nil, Info, "refused from this address"},
		{"open, empty, read-only", datastore.AuthNone, false, readonly, &datastore.Inventory{}, Medium, "no password"},
		{"open, data, read-only", datastore.AuthNone, false, readonly, userTable(), High, "user tables readable"},
		{"open, secrets", datastore.AuthNone, false, readonly, userTable("secret"), Critical, "secrets"},
		{"open, chat logs", datastore.AuthNone, false, readonly, userTable("chat_log"), Critical, "chat/prompt logs"},
		{"open, no capability judged", datastore.AuthNone, false, &datastore.Privileges{}, &datastore.Inventory{}, Medium, "no password"},
		{"open, personal data", datastore.AuthNone, false, readonly, userTable("pii"), Critical, "personal data"},
	}
	// Each impact granted raises to high; unknown says why and raises
	// nothing; refused says nothing.
	for _, i := range []datastore.Impact{datastore.ImpactWrite, datastore.ImpactReadFiles, datastore.ImpactReachHosts, datastore.ImpactRunCode, datastore.ImpactAdminister} {
		tests = append(tests,
			assessCase{"open, " + string(i) + " granted", datastore.AuthNone, false, granting(i, datastore.Yes), &datastore.Inventory{}, High, "outsiders can " + string(i)},
			assessCase{"open, " + string(i) + " unknown", datastore.AuthNone, false, granting(i, datastore.Unknown), &datastore.Inventory{}, Medium,
				"could not tell whether outsiders can " + string(i) + ": evidence of " + string(i)},
		)
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

// A granted capability's fix joins the driver's, once; a refused or
// unknown one's does not, nor does a refused one give a reason.
func TestAssessCapabilityRemediation(t *testing.T) {
	p := &datastore.Privileges{Capabilities: []datastore.Capability{
		{ID: "a", Granted: datastore.Yes, Impact: datastore.ImpactWrite, Summary: "a granted", Remediation: "fix a"},
		{ID: "b", Granted: datastore.Yes, Impact: datastore.ImpactReachHosts, Summary: "b granted", Remediation: "fix a"},
		{ID: "c", Granted: datastore.Yes, Impact: datastore.ImpactRunCode, Summary: "c granted", Remediation: "driver fix"},
		{ID: "d", Granted: datastore.No, Impact: datastore.ImpactAdminister, Summary: "d granted", Remediation: "fix d"},
		{ID: "e", Granted: datastore.Unknown, Impact: datastore.ImpactReadFiles, Summary: "e granted", Remediation: "fix e"},
	}}
	f := &Finding{Privileges: p, Inventory: &datastore.Inventory{}}
	Assess(f, &datastore.Service{Auth: datastore.AuthNone, User: "u"}, []string{"driver fix"})
	if want := []string{"driver fix", "fix a"}; !slices.Equal(f.Remediation, want) {
		t.Errorf("remediation %q, want %q", f.Remediation, want)
	}
	if want := []string{"no password for user u", "a granted", "b granted", "c granted", "could not tell whether e granted: no evidence either way"}; !slices.Equal(f.Reasons, want) {
		t.Errorf("reasons %q, want %q", f.Reasons, want)
	}
}

// TestAssessRansomNote: a ransom note read back makes the finding
// critical and infected, whatever else the server holds.
func TestAssessRansomNote(t *testing.T) {
	inv := &datastore.Inventory{Databases: []datastore.Database{{Name: "keys", Tables: []datastore.Table{
		{Name: "README", Rows: 0, RansomNote: "pay 0.01 BTC to bc1q…"},
	}}}}
	f := Finding{Auth: datastore.AuthNone, Inventory: inv, Privileges: readonly}
	Assess(&f, &datastore.Service{Auth: datastore.AuthNone, User: "anonymous"}, nil)
	if f.Severity != Critical || len(f.Infected) != 1 || f.Infected[0].Table != "keys.README" {
		t.Errorf("Assess(a ransom note) = %s, infected %+v; want critical, infected in keys.README", f.Severity, f.Infected)
	}
	if !slices.ContainsFunc(f.Reasons, func(r string) bool { return strings.HasPrefix(r, "already breached: a ransom note in keys.README") }) {
		t.Errorf("reasons %q name no ransom note", f.Reasons)
	}
}
