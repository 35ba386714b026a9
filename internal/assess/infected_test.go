package assess

import (
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
)

// TestInfected: a table holding a ransom note marks the finding infected,
// critical, with the note's bitcoin address and mail box redacted.
func TestInfected(t *testing.T) {
	const note = "All your data is backed up. You must pay 0.0051 BTC to 1KfGZAbJ4nHRtJ2R3hq7V2mGxxLBtW8d3f contact recover@onionmail.example"
	inv := datastore.Inventory{Databases: []datastore.Database{{Name: "READ_ME_TO_RECOVER_YOUR_DATA",
		Tables: []datastore.Table{{Database: "READ_ME_TO_RECOVER_YOUR_DATA", Name: "README", Rows: 1, RansomNote: note}}}}}
	f := Finding{Engine: "mongodb", Auth: datastore.AuthNone, Inventory: &inv}
	Assess(&f, &datastore.Service{Auth: datastore.AuthNone}, nil)
	if f.Infected == nil || f.Severity != Critical {
		t.Fatalf("Assess of a server holding a ransom note: infected %v, severity %s; want infected, critical", f.Infected, f.Severity)
	}
	for _, secret := range []string{"1KfGZAbJ4nHRtJ2R3hq7V2mGxxLBtW8d3f", "recover@"} {
		if strings.Contains(f.Infected.Note, secret) || strings.Contains(strings.Join(f.Reasons, " "), secret) {
			t.Errorf("the infected note shows %q: %q", secret, f.Infected.Note)
		}
	}
	if !strings.Contains(f.Infected.Note, "0.0051 BTC") || f.Infected.Table != "READ_ME_TO_RECOVER_YOUR_DATA.README" {
		t.Errorf("infected = %+v; want the demand kept and the table named", f.Infected)
	}
}
