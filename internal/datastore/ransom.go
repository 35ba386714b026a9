package datastore

import (
	"regexp"
	"strings"
)

// Ransom notes are what the automated wipers leave in the datastores they
// emptied: a table, collection, index or key named like read_me, README,
// meow or *_RECOVER_*, holding a bitcoin address and a demand. One found is
// the strongest sign that a stranger got in first.
var (
	ransomName    = regexp.MustCompile(`(?i)(^|[^a-z])(read[_\-. ]?me|meow|recover|how[_\-. ]?to[_\-. ]?restore|warning|pwned|hacked)([^a-z]|$)`)
	ransomBitcoin = regexp.MustCompile(`\b(bc1[a-z0-9]{25,60}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})\b`)
	ransomDemand  = regexp.MustCompile(`(?i)\b(btc|bitcoin|pay|payment|ransom|recover|restore|backed up|backup)\b`)
	ransomEmail   = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
)

// maxRansomNote bounds the note's text kept.
const maxRansomNote = 300

// RansomNote reports whether value, found under names (a table's, a
// column's or a key's), is a ransom note: a name like the wipers' and a
// bitcoin address with a demand. It returns the note's start with every
// bitcoin address and email address redacted (their first four
// characters kept), one line, at most 300 bytes.
func RansomNote(value string, names ...string) (string, bool) {
	named := false
	for _, n := range names {
		named = named || ransomName.MatchString(n)
	}
	if !named || !ransomBitcoin.MatchString(value) || !ransomDemand.MatchString(value) {
		return "", false
	}
	redact := func(m string) string { return m[:min(4, len(m))] + "…" }
	note := ransomBitcoin.ReplaceAllStringFunc(value, redact)
	note = ransomEmail.ReplaceAllStringFunc(note, redact)
	note = strings.Join(strings.Fields(note), " ")
	if len(note) > maxRansomNote {
		cut := maxRansomNote
		for cut > 0 && note[cut]&0xc0 == 0x80 { // not inside a UTF-8 sequence
			cut--
		}
		note = note[:cut] + "…"
	}
	return note, true
}
