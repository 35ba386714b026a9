package report

import (
	"bytes"
	"encoding/json"
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
