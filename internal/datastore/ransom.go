package datastore

import (
	"regexp"
	"strings"
)

// RansomNote is a note an automated wiper left in a datastore it emptied
// (a key, collection or index named like READ_ME holding a demand and a
// payment address): the strongest sign that a stranger got in first.
type RansomNote struct {
	Database string `json:"database"`
	Name     string `json:"name"`
	// Text is the note, redacted (RedactNote): payment addresses and
	// emails masked, at most maxNoteText characters.
	Text string `json:"text"`
}

// ransomNames are the names wipers give their notes, lower-cased: READ_ME,
// README, the meow bot's, and *_RECOVER_* / HOW_TO_RECOVER.
var ransomNames = regexp.MustCompile(`^(read[_\-. ]?me[\w.\-]*|meow|warning|ransom\w*|please_read\w*|how_to_recover\w*|\w*_recover_\w*|recover_\w*)$`)

// RansomName reports whether a container or key is named like a ransom note.
func RansomName(name string) bool {
	return len(name) <= 128 && ransomNames.MatchString(strings.ToLower(name))
}

var (
	cryptoAddr = regexp.MustCompile(`\b(bc1[ac-hj-np-z02-9]{11,71}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[0-9a-fA-F]{40}|4[0-9AB][1-9A-HJ-NP-Za-km-z]{93})\b`)
	email      = regexp.MustCompile(`[\w.+\-]+@[\w\-]+(\.[\w\-]+)+`)
	demand     = regexp.MustCompile(`(?i)\b(btc|bitcoin|monero|xmr|ransom|pay|payment|send|recover|restore|backup|deleted|wallet)\b`)
)

// RansomText reports whether a note's text reads as a ransom demand: a
// cryptocurrency address, or an email, with words of a demand.
func RansomText(text string) bool {
	return (cryptoAddr.MatchString(text) || email.MatchString(text)) && demand.MatchString(text)
}

const maxNoteText = 300

// RedactNote keeps a note readable but masks what identifies the
// wiper's accounts (payment addresses, emails) to their first and last
// four characters, and cuts it at maxNoteText characters: the note names
// the wiper, never a secret of the owner, but its addresses are still not
// ours to spread whole.
func RedactNote(text string) string {
	mask := func(s string) string {
		if len(s) <= 10 {
			return strings.Repeat("*", len(s))
		}
		return s[:4] + "…" + s[len(s)-4:]
	}
	text = cryptoAddr.ReplaceAllStringFunc(text, mask)
	text = email.ReplaceAllStringFunc(text, mask)
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > maxNoteText {
		text = string(r[:maxNoteText]) + "…"
	}
	return text
}

// FindRansomNote reports whether value, read back under names (a table's,
// a column's or, in a key-value store, a key's), is a ransom note: one of
// the names is a wiper's (RansomName) and the text a demand (RansomText).
// It returns the note redacted (RedactNote). The scanner runs it over
// every record read back, so any engine's notes are found in what its
// sample reads; a driver that can look notes up by name reports them in
// Inventory.RansomNotes itself.
func FindRansomNote(value string, names ...string) (string, bool) {
	for _, n := range names {
		if RansomName(n) && RansomText(value) {
			return RedactNote(value), true
		}
	}
	return "", false
}
