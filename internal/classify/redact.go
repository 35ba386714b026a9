package classify

import (
	"strings"
	"unicode/utf8"
)

// Redact keeps enough of a value to recognise it and too little to use it
// or to guess it.
//
// Personal data has few possible values, so what is shown of it is chosen
// so that even someone holding the fingerprint key would still face at
// least 10^8 candidates for the hidden part (minutes of HMACs on one core,
// not the 0.4 s an unkeyed hash of a card number took). The key is what
// protects a value; the redaction keeps a leaked key from making values
// trivial. Per kind:
//
//   - payment_card: the last 2 digits. A card has 13 to 19 digits; the
//     first is fixed by the scheme and the last is the Luhn check of the
//     rest, so at least 9 free digits stay hidden (10^9; 10^12 for 16).
//   - phone: nothing. A number is 8 to 11 digits after its country code,
//     the first one to three fixed by the numbering plan: showing even two
//     would leave 7×10^7 for a Chinese mobile, 3×10^6 for a Japanese one.
//   - national_id: nothing. Ids are 8 to 18 characters, one a check digit,
//     several often a birth date; a Hong Kong identity card (2.6×10^7) or
//     a Spanish NIE (3×10^7) is under 10^8 even wholly hidden: for those,
//     only the key protects.
//   - iban: the country code only. The shortest IBAN (Norway, 15
//     characters) leaves 10^10 accounts once its check digits are counted.
//   - email: the domain only; a local part is a name or a handle, guessed
//     from a list of names, so none of it is shown.
//   - ip_address and any other personal data: nothing.
//
// Secrets have many possible values: a known prefix (sk-proj-, ghp_) is
// shown, and of the rest at least 12 characters and two thirds stay hidden.
func Redact(category, kind, value string) string {
	if category == "pii" {
		return redactPersonal(kind, value)
	}
	n := utf8.RuneCountInString(value)
	prefix := 0
	if i := strings.LastIndexAny(value[:min(len(value), 16)], "-_"); i >= 0 && i < 12 && n-i-1 >= 16 && lettersAndDashes(value[:i+1]) {
		prefix = i + 1
	}
	rest := n - prefix
	shown := rest - max(12, 2*rest/3)
	if shown < 2 {
		return firstRunes(value, prefix) + "…"
	}
	head := min(2, shown/2)
	tail := min(4, shown-head)
	return firstRunes(value, prefix+head) + "…" + lastRunes(value, tail)
}

// cardDigitsShown is how many trailing digits of a card number Redact shows.
const cardDigitsShown = 2

func redactPersonal(kind, value string) string {
	switch kind {
	case "email":
		for _, at := range []string{"@", "%40"} {
			if i := strings.LastIndex(value, at); i > 0 {
				return "…" + strings.Map(printableRune, value[i:])
			}
		}
	case "payment_card":
		digits := 0
		for i := len(value) - 1; i >= 0; i-- {
			if value[i] >= '0' && value[i] <= '9' {
				if digits++; digits == cardDigitsShown {
					return "…" + value[i:]
				}
			}
		}
	case "iban":
		if len(value) >= 2 && isUpper(value[0]) && isUpper(value[1]) {
			return value[:2] + "…"
		}
	}
	return "…"
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
