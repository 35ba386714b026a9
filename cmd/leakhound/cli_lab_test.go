package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/lab"
)

// The text report prints one endpoint of a server in full and the other,
// found to be the same server (ServerID), as a line pointing above.
func TestScanTextFoldsTheSecondEndpoint(t *testing.T) {
	requireLab(t)
	code, out, stderr := scanCLI(t, lab.Open.Host, "-p", "clickhouse", "--no-sample", "--no-brute", "-q")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFindings, stderr)
	}
	folded := regexp.MustCompile(`(?m)^[A-Z]+  `+regexp.QuoteMeta(lab.Open.Host)+` port (8123|9000)  clickhouse/(http|native) — same server as `+
		regexp.QuoteMeta(lab.Open.Host)+`:(8123|9000), see above$`).FindAllStringSubmatchIndex(out, -1)
	if len(folded) != 1 {
		t.Fatalf("want one endpoint folded into a line, got %d:\n%s", len(folded), out)
	}
	m := folded[0]
	port, first := out[m[2]:m[3]], out[m[6]:m[7]]
	full := "  " + lab.Open.Host + " port " + first + "  clickhouse/"
	if port == first || !strings.Contains(out[:m[0]], full) {
		t.Errorf("port %s is folded into %s, which is not printed in full above it:\n%s", port, first, out)
	}
	if n := strings.Count(out, "no password for user default"); n != 1 {
		t.Errorf("the reasons of the server are printed %d times, want once:\n%s", n, out)
	}
}
