package datastore

import (
	"strings"
	"testing"
)

func TestRansomNote(t *testing.T) {
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
		got, ok := RansomNote(c.value, c.names...)
		if ok != c.want {
			t.Errorf("RansomNote(%.30q, %q) = %v, want %v", c.value, c.names, ok, c.want)
		}
		if ok && (strings.Contains(got, "bc1qxy2kgdyg") || strings.Contains(got, "recover.db@") || strings.Contains(got, "1BoatSLRH")) {
			t.Errorf("RansomNote(%.30q) = %q: an address not redacted", c.value, got)
		}
	}
	long, ok := RansomNote(strings.Repeat("疯", 200)+" pay 1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "README")
	if !ok || len(long) > maxRansomNote+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("a long note = %d bytes, %v; want it cut at %d", len(long), ok, maxRansomNote)
	}
}
