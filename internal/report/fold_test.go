package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/datastore"
)

// twoEndpoints returns the findings of one ClickHouse server on HTTP 8123
// and native 9000, as a scan reports them: the native one shares the
// HTTP one's inventory and proves one capability more.
func twoEndpoints() (http, native *assess.Finding) {
	http = hostileFinding()
	http.Host = "127.0.0.2"
	http.Reasons = []string{"no password for user default", "could not tell whether anyone can create, alter and drop tables (DDL): HTTP GET cannot tell readonly 0 from 2", "7 user tables readable"}
	http.Remediation = []string{"Set a password for user default", "Serve only TLS"}
	http.Privileges = &datastore.Privileges{Capabilities: []datastore.Capability{{ID: "ddl", Impact: "write"}}}
	native = &assess.Finding{
		Host: "127.0.0.2", IP: "127.0.0.2", Port: 9000, Engine: "clickhouse", Protocol: "native",
		Auth: datastore.AuthNone, Severity: assess.Critical, SameServerAs: "127.0.0.2:8123",
		Reasons:     []string{"no password for user default", "anyone can create, alter and drop tables (DDL)", "7 user tables readable"},
		Remediation: []string{"Set a password for user default", "Give users that only query a read-only profile", "Serve only TLS"},
		Privileges:  &datastore.Privileges{Readonly: datastore.No, Capabilities: []datastore.Capability{{ID: "ddl", Granted: datastore.Yes, Impact: "write"}}},
		Inventory:   http.Inventory, Detections: http.Detections,
	}
	return http, native
}

// The second endpoint of a server is one line, whichever endpoint the
// scan finishes first, with only what it adds to the first's reasons and
// fixes.
func TestTextFoldsTheSecondEndpointOfAServer(t *testing.T) {
	for _, order := range []string{"first endpoint first", "second endpoint first"} {
		t.Run(order, func(t *testing.T) {
			http, native := twoEndpoints()
			var b bytes.Buffer
			w, _ := New("text", &b, false)
			fs := []*assess.Finding{http, native}
			if order == "second endpoint first" {
				fs = []*assess.Finding{native, http}
			}
			for _, f := range fs {
				if err := w.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			const line = "CRITICAL  127.0.0.2 port 9000  clickhouse/native — same server as 127.0.0.2:8123, see above\n"
			i, j := strings.Index(out, "CRITICAL  127.0.0.2 port 8123"), strings.Index(out, line)
			if i < 0 || j < i {
				t.Fatalf("want port 8123 in full, then the line %q:\n%s", line, out)
			}
			second := out[j:]
			for _, want := range []string{
				"  privileges: readonly=no  capabilities: ddl=yes (write)\n", // differs from the first's: shown
				"  why (besides the above):\n    - anyone can create, alter and drop tables (DDL)\n",
				"  fix (besides the above):\n    - Give users that only query a read-only profile\n",
			} {
				if !strings.Contains(second, want) {
					t.Errorf("the folded endpoint lacks %q:\n%s", want, second)
				}
			}
			for _, not := range []string{"no password for user default", "Serve only TLS", "tables:", "detections", "KIND", "auth:"} {
				if strings.Contains(second, not) {
					t.Errorf("the folded endpoint repeats %q:\n%s", not, second)
				}
			}
			if n := strings.Count(out, "no password for user default"); n != 1 {
				t.Errorf("a reason of both endpoints is printed %d times, want once:\n%s", n, out)
			}
		})
	}
}

// An endpoint whose first never comes (the scan was interrupted) is
// written in full when the report closes, not dropped.
func TestTextWritesAnUnfoldedEndpointOnClose(t *testing.T) {
	_, native := twoEndpoints()
	var b bytes.Buffer
	w, _ := New("text", &b, false)
	if err := w.Write(native); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatalf("an endpoint of a server not yet written was written at once:\n%s", b.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "port 9000") || !strings.Contains(out, "no password for user default") || strings.Contains(out, "see above") {
		t.Errorf("on Close, want port 9000 in full:\n%s", out)
	}
}
