package classify

import (
	"math"
	"strings"
	"testing"
	"unicode"
)

func digitsIn(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// TestRedactLowEntropy holds every kind of personal data to what Redact's
// doc comment promises, on every example of every rule of that kind: how
// many digits are shown, and so how many candidates stay hidden for
// someone who holds the fingerprint key.
func TestRedactLowEntropy(t *testing.T) {
	checks := map[string]func(value, redacted string) string{
		// At most the last 2 digits; the scheme fixes the first digit and
		// Luhn one more, so 10^(hidden-2) candidates stay.
		"payment_card": func(v, r string) string {
			shown, hidden := digitsIn(r), digitsIn(v)-digitsIn(r)
			if shown > cardDigitsShown || !strings.HasSuffix(v, strings.TrimPrefix(r, "…")) {
				return "shows more than the last 2 digits"
			}
			if candidates := math.Pow10(hidden - 2); candidates < 1e8 {
				return "leaves fewer than 10^8 candidates"
			}
			return ""
		},
		"phone":       nothingShown,
		"national_id": nothingShown,
		"ip_address":  nothingShown,
		"iban": func(v, r string) string {
			if r != v[:2]+"…" {
				return "shows more than the country code"
			}
			return ""
		},
		"email": func(v, r string) string {
			at := strings.LastIndex(v, "@")
			if at < 0 {
				at = strings.LastIndex(v, "%40")
			}
			if r != "…"+v[at:] {
				return "shows more than the domain"
			}
			return ""
		},
	}
	e := Default()
	seen := map[string]bool{}
	for _, r := range e.Rules() {
		if r.Category != "pii" {
			continue
		}
		check := checks[r.Kind]
		if check == nil {
			t.Errorf("personal data kind %s (rule %s) has no redaction checked here: say in Redact's doc how much of it is shown", r.Kind, r.ID)
			continue
		}
		for _, ex := range r.Examples {
			for _, d := range e.Scan(ex) {
				if d.Rule != r.ID {
					continue
				}
				seen[r.Kind] = true
				if why := check(ex[d.Start:d.End], d.Redacted); why != "" {
					t.Errorf("rule %s: the redaction of a value of %d digits is %q: it %s", r.ID, digitsIn(ex[d.Start:d.End]), d.Redacted, why)
				}
			}
		}
	}
	for kind := range checks {
		if !seen[kind] {
			t.Errorf("no example of kind %s was redacted", kind)
		}
	}
}

func nothingShown(v, r string) string {
	if r != "…" {
		return "shows some of the value"
	}
	return ""
}

func TestRedactShowsNoKeyMaterial(t *testing.T) {
	e := Default()
	for _, r := range e.Rules() {
		if r.Kind != "private_key" {
			continue
		}
		for _, ex := range r.Examples {
			for _, d := range e.Scan(ex) {
				if !strings.HasPrefix(d.Redacted, "-----BEGIN ") || !strings.HasSuffix(d.Redacted, "PRIVATE KEY-----…") {
					t.Errorf("rule %s: Redacted = %q, want the BEGIN line and nothing more", r.ID, d.Redacted)
				}
				if strings.ContainsFunc(strings.TrimSuffix(strings.TrimPrefix(d.Redacted, "-----BEGIN "), "-----…"), unicode.IsLower) {
					t.Errorf("rule %s: Redacted = %q holds base64", r.ID, d.Redacted)
				}
			}
		}
	}
}
