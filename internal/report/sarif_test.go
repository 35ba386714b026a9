package report

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

// plantedSecret is a token the classify engine finds; its raw text must
// appear in no report.
const plantedSecret = "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"

// classified runs the classify engine over text holding the planted
// secret and an e-mail address, as a scan does over a cell.
func classified(t *testing.T) []assess.Detection {
	t.Helper()
	key, err := classify.ParseKey(strings.Repeat("5a", 32))
	if err != nil {
		t.Fatal(err)
	}
	var out []assess.Detection
	for _, d := range classify.Default().WithKey(key).Scan("HF_TOKEN=" + plantedSecret + " mail li.wei88@qq.com") {
		out = append(out, assess.Detection{Category: d.Category, Kind: d.Kind, Rule: d.Rule, Redacted: d.Redacted,
			Fingerprint: d.Fingerprint, Validated: d.Validated, Occurrences: 1,
			Location: assess.Location{Database: "aiapp", Table: "integrations", Column: "config"}})
	}
	if len(out) < 2 {
		t.Fatalf("classify found %d values in the planted text, want the token and the address: %+v", len(out), out)
	}
	return out
}

func openFinding(t *testing.T) *assess.Finding {
	return &assess.Finding{
		Host: "db.example", IP: "127.0.0.2", Port: 9000, Engine: "clickhouse", Protocol: "native",
		Auth: datastore.AuthNone, Severity: assess.Critical,
		Reasons:     []string{"no password for user default", "secrets in aiapp.integrations"},
		Remediation: []string{"Set a password for user default"},
		Privileges: &datastore.Privileges{Capabilities: []datastore.Capability{
			{ID: "file", Granted: datastore.Yes, Impact: datastore.ImpactReadFiles, Summary: "file: reads the server's files", Remediation: "Revoke file"},
			{ID: "ddl", Granted: datastore.No, Impact: datastore.ImpactWrite},
			{ID: "url", Granted: datastore.Unknown, Impact: datastore.ImpactReachHosts},
		}},
		Inventory: &datastore.Inventory{Databases: []datastore.Database{{Name: "aiapp", Tables: []datastore.Table{
			{Name: "integrations", Rows: 10, RowsExact: true, Bytes: 100, Classes: []string{"secret", "pii"}},
			{Name: "empty", Rows: 0, RowsExact: true},
		}}}},
		Detections: classified(t),
	}
}

type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		ColumnKind string `json:"columnKind"`
		Tool       struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID                   string `json:"id"`
					DefaultConfiguration struct{ Level string }
					Properties           struct {
						SecuritySeverity string   `json:"security-severity"`
						Tags             []string `json:"tags"`
					} `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct{ URI string }
					Region           struct{ StartLine, StartColumn, EndColumn int }
				}
				LogicalLocations []struct {
					Name, FullyQualifiedName, Kind string
					Properties                     map[string]any
				}
			}
			PartialFingerprints map[string]string
		} `json:"results"`
	} `json:"runs"`
}

func writeAll(t *testing.T, format string, fs ...*assess.Finding) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := New(format, &b, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decodeSARIF(t *testing.T, b []byte) sarifDoc {
	t.Helper()
	var d sarifDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("SARIF output is not JSON: %v\n%.2000s", err, b)
	}
	if d.Version != "2.1.0" || len(d.Runs) != 1 {
		t.Fatalf("SARIF version %q with %d runs, want 2.1.0 with 1", d.Version, len(d.Runs))
	}
	return d
}

func TestSARIFRulesAndSeverities(t *testing.T) {
	d := decodeSARIF(t, writeAll(t, "sarif", openFinding(t)))
	run := d.Runs[0]
	if run.Tool.Driver.Name != "leakhound" || run.Tool.Driver.Version != Version {
		t.Errorf("driver = %q %q, want leakhound %s", run.Tool.Driver.Name, run.Tool.Driver.Version, Version)
	}
	sev := map[string]string{}
	for _, r := range run.Tool.Driver.Rules {
		if _, dup := sev[r.ID]; dup {
			t.Errorf("rule %s listed twice", r.ID)
		}
		sev[r.ID] = r.Properties.SecuritySeverity
		if !slices.Contains(r.Properties.Tags, "security") {
			t.Errorf("rule %s tags = %v, want security among them", r.ID, r.Properties.Tags)
		}
	}
	want := map[string]string{
		"service/auth-none":          "9.5", // critical
		"capability/clickhouse/file": "8.0", // high
		"table/secret":               "9.5",
		"table/pii":                  "9.5",
		"detection/huggingface":      "8.0", // a secret not validated: high
		"detection/email":            "5.5", // personal data: medium
	}
	for id, s := range want {
		if sev[id] != s {
			t.Errorf("rule %s security-severity = %q, want %q (rules %v)", id, sev[id], s, sev)
		}
	}
	for _, id := range []string{"capability/clickhouse/ddl", "capability/clickhouse/url"} {
		if _, ok := sev[id]; ok {
			t.Errorf("rule %s present for a capability not granted", id)
		}
	}
	if len(sev) != len(want) {
		t.Errorf("rules = %v, want exactly %v", sev, want)
	}
	levels := map[string]string{}
	for _, r := range run.Results {
		if r.RuleIndex < 0 || r.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result of rule %s has ruleIndex %d, not that rule's", r.RuleID, r.RuleIndex)
		}
		levels[r.RuleID] = r.Level
		if len(r.Locations) != 1 || len(r.Locations[0].LogicalLocations) == 0 {
			t.Errorf("result of rule %s has no logical location", r.RuleID)
		}
	}
	for id, l := range map[string]string{"service/auth-none": "error", "detection/email": "warning", "detection/huggingface": "error"} {
		if levels[id] != l {
			t.Errorf("level of %s = %q, want %q", id, levels[id], l)
		}
	}
	for _, r := range run.Results {
		if r.RuleID != "detection/huggingface" {
			continue
		}
		var fqns []string
		for _, l := range r.Locations[0].LogicalLocations {
			fqns = append(fqns, l.FullyQualifiedName)
		}
		wantFQN := []string{"clickhouse://127.0.0.2:9000", "clickhouse://127.0.0.2:9000/aiapp",
			"clickhouse://127.0.0.2:9000/aiapp/integrations", "clickhouse://127.0.0.2:9000/aiapp/integrations/config"}
		if !slices.Equal(fqns, wantFQN) {
			t.Errorf("detection's logical locations = %q, want %q", fqns, wantFQN)
		}
		if p := r.Locations[0].LogicalLocations[0].Properties; p["host"] != "db.example" || p["port"] != float64(9000) || p["engine"] != "clickhouse" {
			t.Errorf("service location properties = %v, want host, port and engine", p)
		}
	}
}

// fingerprintsOf lists the partialFingerprints of each result, in order.
func fingerprintsOf(t *testing.T, b []byte) []string {
	var out []string
	for _, r := range decodeSARIF(t, b).Runs[0].Results {
		if len(r.PartialFingerprints) != 1 {
			t.Errorf("result of %s has %d partialFingerprints, want 1", r.RuleID, len(r.PartialFingerprints))
		}
		for k, v := range r.PartialFingerprints {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func TestSARIFFingerprintsStable(t *testing.T) {
	a := fingerprintsOf(t, writeAll(t, "sarif", openFinding(t)))
	// A re-run finds the same: what it says about it may differ.
	again := openFinding(t)
	again.Reasons = append(again.Reasons, "took longer this time")
	again.Detections[0].Occurrences = 7
	b := fingerprintsOf(t, writeAll(t, "sarif", again))
	if !slices.Equal(a, b) {
		t.Fatalf("a re-run gives other partialFingerprints:\n%q\n%q", a, b)
	}
	seen := map[string]bool{}
	for _, fp := range a {
		if seen[fp] {
			t.Errorf("two results share partialFingerprint %s", fp)
		}
		seen[fp] = true
	}
	other := openFinding(t)
	other.Detections[0].Fingerprint = strings.Repeat("0", 64) // another value in the same place
	c := fingerprintsOf(t, writeAll(t, "sarif", other))
	if diff := countDiff(a, c); diff != 1 {
		t.Errorf("another value in one detection changed %d partialFingerprints, want 1:\n%q\n%q", diff, a, c)
	}
	moved := openFinding(t)
	moved.Port = 8123
	if diff := countDiff(a, fingerprintsOf(t, writeAll(t, "sarif", moved))); diff != len(a) {
		t.Errorf("another port changed %d of %d partialFingerprints, want all", diff, len(a))
	}
}

func countDiff(a, b []string) int {
	n := 0
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestSARIFHostileNames(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	f := hostileFinding()
	f.Detections = append(f.Detections, assess.Detection{Category: "pii", Kind: "email", Rule: "email",
		Location: assess.Location{Database: "default", Table: huge, Column: "a|b"}, Redacted: "b…@example.org", Fingerprint: strings.Repeat("b", 64)})
	out := writeAll(t, "sarif", f)
	d := decodeSARIF(t, out)
	if len(out) > 8<<20 {
		t.Errorf("SARIF of one 1 MB name is %d bytes", len(out))
	}
	foundHuge := false
	for _, r := range d.Runs[0].Results {
		if len(r.Message.Text) > 4096 {
			t.Errorf("message of %s is %d bytes, want names clipped", r.RuleID, len(r.Message.Text))
		}
		if i := strings.IndexFunc(r.Message.Text, unicode.IsControl); i >= 0 {
			t.Errorf("message of %s holds a raw control character at %d: %q", r.RuleID, i, r.Message.Text)
		}
		for _, l := range r.Locations[0].LogicalLocations {
			if i := strings.IndexFunc(l.Name+l.FullyQualifiedName, unicode.IsControl); i >= 0 {
				t.Errorf("logical location %q holds a raw control character", l.Name)
			}
			if l.Name == huge {
				foundHuge = true
			}
		}
	}
	if !foundHuge {
		t.Error("the 1 MB table name is not whole in a logical location")
	}
	if !bytes.Contains(out, []byte(`t\\x1b]0;x\\a|*`)) {
		t.Errorf("the hostile table name is not shown escaped")
	}
}

func TestNoRawSecretInAnyFormat(t *testing.T) {
	for _, format := range Formats {
		out := writeAll(t, format, openFinding(t))
		if bytes.Contains(out, []byte(plantedSecret)) || bytes.Contains(out, []byte("li.wei88@qq.com")) {
			t.Errorf("-f %s writes a raw value found", format)
		}
	}
	for _, format := range FileFormats {
		var b bytes.Buffer
		w, _ := NewFiles(format, &b)
		for _, d := range openFinding(t).Detections {
			w.WriteFile(classify.Finding{Path: "logs/app.log", Line: 3, Detection: classify.Detection{Category: d.Category, Kind: d.Kind,
				Rule: d.Rule, Start: 9, End: 9 + len(plantedSecret), Redacted: d.Redacted, Fingerprint: d.Fingerprint}})
		}
		w.Close()
		if bytes.Contains(b.Bytes(), []byte(plantedSecret)) {
			t.Errorf("classify -f %s writes the raw secret", format)
		}
		if !bytes.Contains(b.Bytes(), []byte(openFinding(t).Detections[0].Fingerprint)) {
			t.Errorf("classify -f %s does not name the fingerprint", format)
		}
	}
}

// defectDojoKeys are the keys DefectDojo's Generic Findings Import accepts
// that leakhound writes (dojo/tools/generic/json_parser.py): any other key
// makes DefectDojo reject the whole file.
var defectDojoKeys = []string{"title", "severity", "description", "mitigation", "unique_id_from_tool",
	"vuln_id_from_tool", "static_finding", "dynamic_finding", "file_path", "line", "endpoints"}

func TestDefectDojoDocumentedKeysOnly(t *testing.T) {
	var b bytes.Buffer
	w, _ := NewFiles("defectdojo", &b)
	w.WriteFile(classify.Finding{Path: "a.log", Line: 2, Detection: classify.Detection{Category: "secret", Kind: "github", Rule: "github-token", Redacted: "ghp_…", Fingerprint: "f"}})
	w.Close()
	for _, out := range [][]byte{writeAll(t, "defectdojo", openFinding(t), hostileFinding()), b.Bytes(), writeAll(t, "defectdojo")} {
		var doc map[string][]map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("DefectDojo output is not JSON: %v\n%s", err, out)
		}
		if len(doc) != 1 || doc["findings"] == nil {
			t.Fatalf("DefectDojo document keys = %v, want findings only", doc)
		}
		for _, f := range doc["findings"] {
			for k := range f {
				if !slices.Contains(defectDojoKeys, k) {
					t.Errorf("DefectDojo finding has key %q, which its generic parser rejects", k)
				}
			}
			for _, k := range []string{"title", "severity", "description", "unique_id_from_tool"} {
				if s, _ := f[k].(string); s == "" {
					t.Errorf("DefectDojo finding lacks %s: %v", k, f)
				}
			}
			if !slices.Contains([]string{"Critical", "High", "Medium", "Low", "Info"}, f["severity"].(string)) {
				t.Errorf("DefectDojo severity %v", f["severity"])
			}
		}
	}
	var doc struct{ Findings []map[string]any }
	json.Unmarshal(writeAll(t, "defectdojo", openFinding(t)), &doc)
	if len(doc.Findings) == 0 || doc.Findings[0]["severity"] != "Critical" || !slices.Equal(doc.Findings[0]["endpoints"].([]any), []any{"127.0.0.2:9000"}) {
		t.Errorf("first DefectDojo finding = %v, want the service, Critical, endpoint 127.0.0.2:9000", doc.Findings[0])
	}
}

func TestSARIFFileLocations(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.Mkdir("logs", 0o755)
	// Line 2 puts Chinese (3 bytes, 1 UTF-16 unit each) and an emoji (4
	// bytes, 2 units) before the value; line 3 only ASCII.
	os.WriteFile("logs/a b#1.log", []byte("x\n用户🙂 k="+plantedSecret+"\r\nkey="+plantedSecret+"\n"), 0o644)
	var b bytes.Buffer
	w, _ := NewFiles("sarif", &b)
	put := func(path string, line, start int) {
		w.WriteFile(classify.Finding{Path: path, Line: line, Detection: classify.Detection{Category: "secret", Kind: "huggingface",
			Rule: "huggingface-token", Start: start, End: start + len(plantedSecret), Redacted: "hf_…", Fingerprint: "f"}})
	}
	put("logs/a b#1.log", 2, len("用户🙂 k="))
	put("logs/a b#1.log", 3, len("key="))
	put("logs/a b#1.log", 2, len("用户🙂 k=")) // out of order: read again
	put("-", 1, 4)                          // standard input cannot be read again
	put("logs/missing.log", 1, 4)
	put("logs/a b#1.log", 9, 0) // no such line: the file changed
	w.Close()
	d := decodeSARIF(t, b.Bytes())
	if d.Runs[0].ColumnKind != "utf16CodeUnits" {
		t.Errorf("columnKind = %q, want utf16CodeUnits", d.Runs[0].ColumnKind)
	}
	type loc struct {
		uri            string
		line, from, to int
	}
	want := []loc{
		{"logs/a%20b%231.log", 2, 2 + 2 + len(" k=") + 1, 8 + len(plantedSecret)}, // 用户 2 units, 🙂 2
		{"logs/a%20b%231.log", 3, 5, 5 + len(plantedSecret)},
		{"logs/a%20b%231.log", 2, 8, 8 + len(plantedSecret)},
		{"stdin", 1, 0, 0},
		{"logs/missing.log", 1, 0, 0},
		{"logs/a%20b%231.log", 9, 0, 0},
	}
	rs := d.Runs[0].Results
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		p := r.Locations[0].PhysicalLocation
		got := loc{p.ArtifactLocation.URI, p.Region.StartLine, p.Region.StartColumn, p.Region.EndColumn}
		if got != want[i] {
			t.Errorf("result %d location = %+v, want %+v (no columns when they cannot be told)", i, got, want[i])
		}
	}
}

// TestSARIFValidates checks the SARIF written, of a scan and of files,
// against the SARIF 2.1.0 JSON schema that Microsoft's SARIF Multitool
// ships (with Python's jsonschema), and with the Multitool's own validate.
// scripts/install-deps installs the Multitool into $HOME/.cache/leakhound-npm
// (or $LEAKHOUND_NPM); nothing here needs the network.
func TestSARIFValidates(t *testing.T) {
	dir := os.Getenv("LEAKHOUND_NPM")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "leakhound-npm")
	}
	pkg := filepath.Join(dir, "node_modules", "@microsoft", "sarif-multitool-linux")
	schema := filepath.Join(pkg, "sarif-2.1.0.json")
	if _, err := os.Stat(schema); err != nil {
		t.Skipf("SARIF 2.1.0 schema not installed (%v): run scripts/install-deps (npm install @microsoft/sarif-multitool)", err)
	}
	var files bytes.Buffer
	w, _ := NewFiles("sarif", &files)
	w.WriteFile(classify.Finding{Path: "logs/app.log", Line: 4, Detection: classify.Detection{Category: "secret", Kind: "github", Rule: "github-token", Start: 6, End: 46, Redacted: "ghp_…", Fingerprint: "f"}})
	// A rule whose id is its kind: SARIF wants a rule's name unlike its id.
	w.WriteFile(classify.Finding{Path: "logs/app.log", Line: 5, Detection: classify.Detection{Category: "pii", Kind: "email", Rule: "email", Start: 0, End: 9, Redacted: "b…", Fingerprint: "g"}})
	w.Close()
	tmp := t.TempDir()
	logs := map[string][]byte{
		"scan.sarif":  writeAll(t, "sarif", openFinding(t), hostileFinding()),
		"empty.sarif": writeAll(t, "sarif"),
		"files.sarif": files.Bytes(),
	}
	bad := bytes.Replace(logs["scan.sarif"], []byte(`"level":"error"`), []byte(`"level":"fatal"`), 1)
	for name, b := range logs {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tmp, "broken.sarif"), bad, 0o644)

	t.Run("schema", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import jsonschema").Run(); err != nil {
			t.Skipf("python3 with jsonschema is not available (%v): apt-get install python3-jsonschema", err)
		}
		for name := range logs {
			out, err := exec.Command("python3", "testdata/validate_sarif.py", schema, filepath.Join(tmp, name)).CombinedOutput()
			if err != nil {
				t.Errorf("%s does not validate against the SARIF 2.1.0 schema: %v\n%s", name, err, out)
			}
		}
		// The check can fail: a level SARIF does not know is caught.
		if out, err := exec.Command("python3", "testdata/validate_sarif.py", schema, filepath.Join(tmp, "broken.sarif")).CombinedOutput(); err == nil {
			t.Errorf("a log with level \"fatal\" validates: %s", out)
		}
	})
	t.Run("multitool", func(t *testing.T) {
		tool := filepath.Join(pkg, "Sarif.Multitool")
		if _, err := os.Stat(tool); err != nil {
			t.Skipf("SARIF Multitool not installed: %v", err)
		}
		// The check can fail: a rule named as its id is caught (SARIF1001).
		os.WriteFile(filepath.Join(tmp, "named.sarif"), bytes.Replace(logs["files.sarif"], []byte(`"name":"DetectedEmail"`), []byte(`"name":"email"`), 1), 0o644)
		for _, name := range append(slices.Sorted(maps.Keys(logs)), "named.sarif") {
			res := filepath.Join(tmp, name+".validation")
			out, err := exec.Command(tool, "validate", filepath.Join(tmp, name), "-o", res, "--log", "ForceOverwrite").CombinedOutput()
			if err != nil {
				t.Fatalf("sarif-multitool validate %s: %v\n%s", name, err, out)
			}
			b, err := os.ReadFile(res)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Runs []struct {
					Results []struct {
						RuleID  string
						Level   string
						Message any
					}
				}
			}
			if err := json.Unmarshal(b, &v); err != nil || len(v.Runs) == 0 {
				t.Fatalf("sarif-multitool validate wrote no log: %v", err)
			}
			if name == "named.sarif" {
				if len(v.Runs[0].Results) == 0 {
					t.Errorf("sarif-multitool validate finds nothing wrong with a rule named as its id")
				}
				continue
			}
			for _, r := range v.Runs[0].Results {
				// A result without a level is a warning (SARIF 3.27.10).
				if r.Level == "error" || r.Level == "warning" || r.Level == "" {
					t.Errorf("sarif-multitool validate %s: %s %s: %v", name, r.Level, r.RuleID, r.Message)
				}
			}
		}
	})
}

// A line longer than maxColumnLine is not held to count its columns.
func TestSARIFNoColumnsOnAHugeLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.log")
	os.WriteFile(path, []byte(strings.Repeat("a", maxColumnLine+10)+" "+plantedSecret+"\nkey="+plantedSecret+"\n"), 0o644)
	var b bytes.Buffer
	w, _ := NewFiles("sarif", &b)
	for _, f := range []classify.Finding{
		{Path: path, Line: 1, Detection: classify.Detection{Rule: "r", Start: maxColumnLine + 11, End: maxColumnLine + 11 + len(plantedSecret)}},
		{Path: path, Line: 2, Detection: classify.Detection{Rule: "r", Start: 4, End: 4 + len(plantedSecret)}},
	} {
		w.WriteFile(f)
	}
	w.Close()
	rs := decodeSARIF(t, b.Bytes()).Runs[0].Results
	if r := rs[0].Locations[0].PhysicalLocation.Region; r.StartColumn != 0 || r.StartLine != 1 {
		t.Errorf("huge line region = %+v, want line 1 without columns", r)
	}
	if r := rs[1].Locations[0].PhysicalLocation.Region; r.StartColumn != 5 || r.StartLine != 2 {
		t.Errorf("line after a huge one region = %+v, want line 2 column 5", r)
	}
	if fileURI(path) != "file://"+filepath.ToSlash(path) {
		t.Errorf("absolute path URI = %q", fileURI(path))
	}
}

// Detections out of line order make the writer read the file again, a
// bounded number of times: past that they get no columns.
func TestSARIFRereadsAFileABoundedNumberOfTimes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	os.WriteFile(path, []byte("key="+plantedSecret+"\nkey="+plantedSecret+"\n"), 0o644)
	var b bytes.Buffer
	w, _ := NewFiles("sarif", &b)
	for range maxRereads + 2 {
		for _, line := range []int{2, 1} {
			w.WriteFile(classify.Finding{Path: path, Line: line, Detection: classify.Detection{Rule: "r", Start: 4, End: 4 + len(plantedSecret)}})
		}
	}
	w.Close()
	with := 0
	for _, r := range decodeSARIF(t, b.Bytes()).Runs[0].Results {
		if r.Locations[0].PhysicalLocation.Region.StartColumn == 5 {
			with++
		}
	}
	// Every line 2 (read forward, or the line held), and line 1 only
	// while rereads are left.
	if want := (maxRereads + 2) + maxRereads; with != want {
		t.Errorf("%d results have columns, want %d", with, want)
	}
}
