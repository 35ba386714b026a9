package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/datastore"
)

func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"esc\x1b[31mred", `esc\x1b[31mred`},
		{"bell\a", `bell\a`},
		{"new\nline", `new\nline`},
		{"back\\slash", `back\\slash`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"rtl\u202eevil", `rtl\u202eevil`},
		{"中文", "中文"},
	}
	for _, tt := range tests {
		if got := Safe(tt.in); got != tt.want {
			t.Errorf("Safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func hostileFinding() *assess.Finding {
	name := "t\x1b]0;x\a|*`"
	return &assess.Finding{
		Host: "h\x1b[2J", IP: "127.0.0.2", Port: 8123, Engine: "clickhouse", Protocol: "http",
		Auth: datastore.AuthNone, Severity: assess.Critical, Reasons: []string{"in default." + name},
		Inventory: &datastore.Inventory{Databases: []datastore.Database{{Name: "default", Tables: []datastore.Table{
			{Name: name, Engine: "TinyLog", Rows: 1, RowsExact: true, Bytes: -1, Classes: []string{"secret"}, Leaks: map[string]int64{"github": 1}},
		}}}},
		Detections: []assess.Detection{{Category: "secret", Kind: "github", Rule: "github-token",
			Location: assess.Location{Database: "default", Table: name, Column: "c\x1b[2J"}, Redacted: "ghp_ab…wxyz", Fingerprint: strings.Repeat("a", 64)}},
	}
}

func TestWritersEscapeHostileNames(t *testing.T) {
	for _, format := range []string{"text", "markdown"} {
		var b bytes.Buffer
		w, err := New(format, &b, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(hostileFinding()); err != nil {
			t.Fatal(err)
		}
		if i := strings.IndexAny(b.String(), "\x1b\a"); i >= 0 {
			t.Errorf("%s output holds a raw control byte at %d: %q", format, i, b.String())
		}
		if !strings.Contains(b.String(), `\x1b]0;x\a`) {
			t.Errorf("%s output does not show the table name escaped:\n%s", format, b.String())
		}
	}
}

func TestJSONLContract(t *testing.T) {
	var b bytes.Buffer
	w, _ := New("jsonl", &b, false)
	w.Write(hostileFinding())
	w.Write(hostileFinding())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl wrote %d lines for 2 findings", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host", "ip", "port", "engine", "protocol", "tls", "auth", "severity", "inventory", "detections", "reasons", "remediation"} {
		if _, ok := m[k]; !ok {
			t.Errorf("jsonl object lacks %q: %s", k, lines[0])
		}
	}
	if m["severity"] != "critical" {
		t.Errorf("severity = %v, want \"critical\"", m["severity"])
	}
	d := m["detections"].([]any)[0].(map[string]any)
	for _, k := range []string{"category", "kind", "rule", "location", "redacted", "fingerprint"} {
		if _, ok := d[k]; !ok {
			t.Errorf("detection lacks %q", k)
		}
	}
}

func TestNewUnknownFormat(t *testing.T) {
	if _, err := New("xml", &bytes.Buffer{}, false); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("New(xml) error = %v, want one naming xml", err)
	}
}

func TestTextNamesRemoteDatabases(t *testing.T) {
	f := hostileFinding()
	f.Inventory.Databases = append(f.Inventory.Databases, datastore.Database{Name: "crm", Engine: "MySQL"})
	var b bytes.Buffer
	w, _ := New("text", &b, false)
	w.Write(f)
	if !strings.Contains(b.String(), "crm (engine MySQL)") {
		t.Errorf("text output does not name the MySQL database it did not open:\n%s", b.String())
	}
}

// countingWriter counts what is written and keeps nothing.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// One table name of a megabyte among a thousand short ones once padded every
// row of the text table to a megabyte (1 GB written, 4 GB resident).
func TestReportsOfAHugeNameStaySmall(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	f := hostileFinding()
	db := &f.Inventory.Databases[0]
	for i := range 1000 {
		db.Tables = append(db.Tables, datastore.Table{Name: fmt.Sprintf("t%d", i), Engine: "MergeTree", Rows: 1, Bytes: 1, Classes: []string{"pii"}})
	}
	db.Tables = append(db.Tables, datastore.Table{Name: long, Engine: long, Rows: 1, Bytes: 1, Leaks: map[string]int64{"email": 1},
		Truncation: []string{"sample cut in " + long}})
	f.Remediation = append(f.Remediation, "REVOKE ALL ON "+long)
	for i := range 50 {
		f.Detections = append(f.Detections, assess.Detection{Category: "pii", Kind: fmt.Sprintf("k%d", i), Rule: "r",
			Location: assess.Location{Database: "default", Table: long, Column: "c"}, Redacted: "a…b", Fingerprint: strings.Repeat("b", 64)})
	}
	f.Reasons = append(f.Reasons, "in default."+long)
	f.Errors = append(f.Errors, long)
	for _, tt := range []struct {
		format string
		max    int64
	}{{"text", 1 << 20}, {"markdown", 1 << 20}} {
		var c countingWriter
		w, _ := New(tt.format, &c, false)
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", tt.format, c.n)
		if c.n > tt.max {
			t.Errorf("%s report of 1,001 tables, one named with 1 MB, wrote %d bytes, want at most %d", tt.format, c.n, tt.max)
		}
	}
	// The full name stays in jsonl.
	var b bytes.Buffer
	w, _ := New("jsonl", &b, false)
	w.Write(f)
	if !strings.Contains(b.String(), `"name":"`+long+`"`) {
		t.Error("jsonl does not hold the long table name whole")
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"中文中文中文", 4, "中文中…"},
		{"ab\x1b[2Jcdef", 6, `ab…`}, // an escape is never cut in half
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.width); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

// cells splits a GitHub-flavoured Markdown table row at its unescaped pipes.
func cells(row string) int {
	n := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n - 1
}

// A name holding pipes and backticks must not forge cells of the tables.
func TestMarkdownNamesCannotForgeCells(t *testing.T) {
	name := "a|b`c` | d\\|e\nf"
	f := hostileFinding()
	f.Inventory.Databases[0].Tables[0].Name = name
	f.Inventory.Databases[0].Tables[0].Engine = "Merge|Tree"
	f.Detections[0].Location.Table = name
	f.Detections[0].Redacted = "x|`y"
	var b bytes.Buffer
	w, _ := New("markdown", &b, false)
	w.Write(f)
	want := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, "|") {
			want = 0
			continue
		}
		if want == 0 {
			want = cells(line) // the header row
			continue
		}
		if got := cells(line); got != want {
			t.Errorf("row %q has %d cells, want %d as its header", line, got, want)
		}
	}
}

// A certificate's names are the server's to choose: the text report shows
// one line on it, escaped and short, and the jsonl record keeps it whole.
func TestTextCertificateLine(t *testing.T) {
	f := hostileFinding()
	f.TLS = true
	f.TLSCert = &datastore.Cert{
		Subject:    "CN=\x1b]0;owned\a" + strings.Repeat("\u202eA", 5000),
		Issuer:     "CN=\x1b]0;owned\a",
		NotBefore:  time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
		NotAfter:   time.Date(2035, 1, 2, 0, 0, 0, 0, time.UTC),
		SelfSigned: true,
		SHA256:     strings.Repeat("ab", 32),
		SANs:       []string{"db.example.com"},
	}
	f.Notes = []string{"version unknown: the native Hello announced 18446744073709551615.8.5, which no ClickHouse release has"}
	var b bytes.Buffer
	w, _ := New("text", &b, false)
	if err := w.Write(f); err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.Lines(b.String()) {
		if strings.HasPrefix(l, "  tls: ") {
			line = l
		}
	}
	if !strings.Contains(line, "self-signed") || !strings.Contains(line, "expires 2035-01-02") || !strings.Contains(line, "sha256 abababab") {
		t.Errorf("text tls line = %q, want self-signed, its expiry and its fingerprint", line)
	}
	if strings.ContainsAny(line, "\x1b\a\u202e") || len(line) > 600 {
		t.Errorf("text tls line = %q (%d bytes), want it escaped and short", line, len(line))
	}
	if !strings.Contains(b.String(), "note: version unknown") {
		t.Errorf("text output has no note on the version:\n%s", b.String())
	}

	b.Reset()
	w, _ = New("jsonl", &b, false)
	w.Write(f)
	var m struct {
		TLSCert datastore.Cert `json:"tls_cert"`
	}
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m.TLSCert.Subject != f.TLSCert.Subject || !m.TLSCert.SelfSigned {
		t.Errorf("jsonl tls_cert = %+v, %v, want the certificate as recorded", m.TLSCert, err)
	}
}

// Markdown names the certificate too, escaped, in one cell that forges no
// other.
func TestMarkdownCertificateRow(t *testing.T) {
	f := hostileFinding()
	f.TLS = true
	f.TLSCert = &datastore.Cert{Subject: "CN=a|b\x1b[31m", Issuer: "CN=x", NotAfter: time.Date(2035, 1, 2, 0, 0, 0, 0, time.UTC), SelfSigned: true, SHA256: strings.Repeat("cd", 32)}
	var b bytes.Buffer
	w, _ := New("markdown", &b, false)
	if err := w.Write(f); err != nil {
		t.Fatal(err)
	}
	var row string
	for l := range strings.Lines(b.String()) {
		if strings.HasPrefix(l, "| TLS certificate |") {
			row = l
		}
	}
	if !strings.Contains(row, "self-signed") || !strings.Contains(row, "expires 2035-01-02") || strings.Contains(row, "\x1b") || cells(row) != 2 {
		t.Errorf("markdown certificate row = %q, want one escaped cell saying self-signed and its expiry", row)
	}
}
