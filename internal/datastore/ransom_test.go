package datastore

import (
	"strings"
	"testing"
)

func TestRansomNote(t *testing.T) {
	note := "All your data is backed up. You must pay 0.0058 BTC to bc1qa5wkgaew2dkv56kfvj49j0av5nml45x9ek9hz6 In 48 hours your data will be deleted. Mail rambler+abc@onionmail.org"
	for _, c := range []struct {
		name string
		want bool
	}{{"READ_ME", true}, {"readme", true}, {"README_TO_RECOVER", true}, {"meow", true}, {"PLEASE_READ_ME_XYZ", true}, {"how_to_recover", true}, {"db_RECOVER_2", true},
		{"users", false}, {"readmeter", true}, {"session:1", false}, {"recovery_codes", false}} {
		if got := RansomName(c.name); got != c.want {
			t.Errorf("RansomName(%q) = %v, want %v", c.name, got, c.want)
		}
	}
	if !RansomText(note) {
		t.Errorf("RansomText(a wiper's note) = false")
	}
	for _, plain := range []string{"read the manual before deploying", "contact support@example.com for help", "backup done at 02:00"} {
		if RansomText(plain) {
			t.Errorf("RansomText(%q) = true", plain)
		}
	}
	got := RedactNote(note + strings.Repeat(" more", 200))
	if strings.Contains(got, "bc1qa5wkgaew2dkv56") || strings.Contains(got, "rambler+abc@onionmail.org") || len([]rune(got)) > maxNoteText+1 {
		t.Errorf("RedactNote = %q: want addresses masked and at most %d characters", got, maxNoteText)
	}
	if !strings.Contains(got, "You must pay 0.0058 BTC") {
		t.Errorf("RedactNote = %q: want the demand kept readable", got)
	}
}

// FindRansomNote: a wiper's name among the table's, column's or key's,
// and a demand in the value; business payments are not notes.
func TestFindRansomNote(t *testing.T) {
	note := "All your data is backed up. You must pay 0.01 BTC to bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh. Write to recover.db@onionmail.org"
	for _, c := range []struct {
		value string
		names []string
		want  bool
	}{
		{note, []string{"keys", "README"}, true},
		{note, []string{"READ_ME_TO_RECOVER_YOUR_DATA"}, true},
		{note, []string{"meow"}, true},
		{note, []string{"orders"}, false}, // a bitcoin payment in an orders table is business
		{"Please read me", []string{"README"}, false},
		{"pay to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT", []string{"readme"}, true},
	} {
		got, ok := FindRansomNote(c.value, c.names...)
		if ok != c.want {
			t.Errorf("FindRansomNote(%.30q, %q) = %v, want %v", c.value, c.names, ok, c.want)
		}
		if ok && (strings.Contains(got, "bc1qxy2kgdyg") || strings.Contains(got, "recover.db@") || strings.Contains(got, "1BoatSLRH")) {
			t.Errorf("FindRansomNote(%.30q) = %q: an address not redacted", c.value, got)
		}
	}
	long, ok := FindRansomNote(strings.Repeat("疯", 400)+" pay 1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "README")
	if !ok || len([]rune(long)) > maxNoteText+1 || !strings.HasSuffix(long, "…") {
		t.Errorf("a long note = %d bytes, %v; want it cut at %d characters", len(long), ok, maxNoteText)
	}
}
