package main

import (
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/lab"
)

// TestScanFingerprintsAreKeyed scans the lab's open server under two keys:
// values read again under the same key keep their fingerprints, under
// another key none matches, and personal data shows no more than Redact
// promises.
func TestScanFingerprintsAreKeyed(t *testing.T) {
	requireLab(t)
	keyA, keyB := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	scanWith := func(key string) map[string]bool {
		t.Helper()
		code, out, stderr := scanCLI(t, lab.Open.Host, "-p", "8123", "--random-rows", "0", "-f", "jsonl", "--fingerprint-key", key)
		if code != exitFindings {
			t.Fatalf("scan exit %d, want %d; stderr %s", code, exitFindings, stderr)
		}
		fps := map[string]bool{}
		for _, f := range decodeFindings(t, out) {
			for _, d := range f.Detections {
				fps[d.Fingerprint] = true
				switch d.Kind {
				case "phone", "national_id", "ip_address":
					if d.Redacted != "…" {
						t.Errorf("%s redacted as %q, want nothing shown", d.Kind, d.Redacted)
					}
				case "payment_card":
					if n := len(strings.TrimPrefix(d.Redacted, "…")); n > 2 {
						t.Errorf("card redacted as %q, want at most 2 digits shown", d.Redacted)
					}
				}
			}
		}
		if len(fps) == 0 {
			t.Fatalf("no detections in %s", out)
		}
		return fps
	}
	a1, a2, b := scanWith(keyA), scanWith(keyA), scanWith(keyB)
	same, crossed := 0, 0
	for fp := range a1 {
		if a2[fp] {
			same++
		}
		if b[fp] {
			crossed++
		}
	}
	if same == 0 {
		t.Errorf("two scans under one key share no fingerprint (%d and %d values)", len(a1), len(a2))
	}
	if crossed > 0 {
		t.Errorf("%d fingerprints are the same under two keys", crossed)
	}
}
