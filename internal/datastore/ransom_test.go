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
