package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// A log with a client address on every line: by default the addresses are
// counted, one context record for the input after its detections, and
// only the secret is a detection; --ip-findings lists every address.
func TestClassifyAddressesAreContext(t *testing.T) {
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, `{"ts":"2025-01-14T03:12:%02dZ","client_ip":"116.228.%d.18","path":"/v1/chat"}`+"\n", i, i)
	}
	in.WriteString(`{"level":"error","detail":"git clone https://ghp_` + corpus.CRC32Complete("4SuxJCiuiZTDfIbYj2sZeJ0Z9ZiANo") + `@github.com/acme/x.git"}` + "\n")
	key := strings.Repeat("5a", 32)
	type record struct {
		Path    string
		Kind    string
		Context map[string]int64
	}
	read := func(out string) (kinds map[string]int, ctx []record) {
		kinds = map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("not JSON: %v: %q", err, line)
			}
			if r.Context != nil {
				ctx = append(ctx, r)
				continue
			}
			kinds[r.Kind]++
		}
		return kinds, ctx
	}

	code, out, errOut := classifyCLI(t, in.String(), "-f", "jsonl", "--fingerprint-key", key, "-")
	if code != exitFindings {
		t.Fatalf("classify = %d, want %d; stderr %s", code, exitFindings, errOut)
	}
	kinds, ctx := read(out)
	if kinds["ip_address"] != 0 || kinds["github"] != 1 {
		t.Errorf("classify detections by kind %v, want github 1 and no ip_address", kinds)
	}
	if len(ctx) != 1 || ctx[0].Path != "-" || ctx[0].Context["ip_address"] != 50 {
		t.Errorf("classify context records %+v, want one for - with ip_address 50", ctx)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), `"context":{"ip_address":50}}`) {
		t.Errorf("the context record is not the input's last line:\n%s", out)
	}

	_, text, _ := classifyCLI(t, in.String(), "--fingerprint-key", key, "-")
	if !strings.Contains(text, "-  context  ip_address 50\n") {
		t.Errorf("classify text output lacks the context line:\n%s", text)
	}

	code, out, errOut = classifyCLI(t, in.String(), "-f", "jsonl", "--fingerprint-key", key, "--ip-findings", "-")
	if code != exitFindings {
		t.Fatalf("classify --ip-findings = %d, want %d; stderr %s", code, exitFindings, errOut)
	}
	if kinds, ctx := read(out); kinds["ip_address"] != 50 || kinds["github"] != 1 || len(ctx) != 0 {
		t.Errorf("classify --ip-findings detections %v, context %+v; want ip_address 50, github 1, no context record", kinds, ctx)
	}

	// Addresses alone are no finding: the exit status says nothing was detected.
	if code, out, _ := classifyCLI(t, "client 116.228.1.18\n", "-f", "jsonl", "--fingerprint-key", key, "-"); code != exitClean {
		t.Errorf("classify of a line with only an address = %d, want %d (clean); output %s", code, exitClean, out)
	}
}
