package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

// These tests scan the lab's real servers (scripts/test brings them up and
// sets LEAKHOUND_LAB=1) through the same entry point a user's command line
// reaches.

func requireLab(t *testing.T) {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("the lab is not up: run scripts/test")
	}
}

// scanCLI runs "leakhound scan ARGS..." and returns the exit code, standard
// output and standard error.
func scanCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runScan(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func decodeFindings(t *testing.T, jsonl string) []assess.Finding {
	t.Helper()
	var fs []assess.Finding
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		if line == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("output line is not JSON: %v: %q", err, line)
		}
		var f findingJSON
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("output line does not decode as a finding: %v", err)
		}
		fs = append(fs, f.Finding)
	}
	slices.SortFunc(fs, func(a, b assess.Finding) int { return a.Port - b.Port })
	return fs
}

// findingJSON reads back the severity, written as its name.
type findingJSON struct{ assess.Finding }

func (f *findingJSON) UnmarshalJSON(b []byte) error {
	type plain assess.Finding
	var aux struct {
		plain
		Severity string `json:"severity"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	f.Finding = assess.Finding(aux.plain)
	sev, err := assess.ParseSeverity(aux.Severity)
	f.Finding.Severity = sev
	return err
}

func TestScanOpenServer(t *testing.T) {
	requireLab(t)
	code, out, stderr := scanCLI(t, lab.Open.Host, "-f", "jsonl")
	if code != exitFindings {
		t.Errorf("scan %s exit = %d, want %d (findings); stderr: %s", lab.Open.Host, code, exitFindings, stderr)
	}
	fs := decodeFindings(t, out)
	if len(fs) != 2 {
		t.Fatalf("scan %s found %d services, want 2 (HTTP 8123 and native 9000):\n%s", lab.Open.Host, len(fs), out)
	}
	for i, want := range []struct {
		port  int
		proto string
	}{{8123, "http"}, {9000, "native"}} {
		f := fs[i]
		if f.Port != want.port || f.Protocol != want.proto || f.Engine != "clickhouse" {
			t.Errorf("finding %d = %d/%s/%s, want %d/%s/clickhouse", i, f.Port, f.Protocol, f.Engine, want.port, want.proto)
		}
		if f.Severity != assess.Critical || f.Auth != "none" {
			t.Errorf("%d: severity %s auth %s, want critical, none", f.Port, f.Severity, f.Auth)
		}
		if f.Version != "18.16.1" || f.Timezone != "Asia/Shanghai" {
			t.Errorf("%d: version %q timezone %q, want 18.16.1 Asia/Shanghai", f.Port, f.Version, f.Timezone)
		}
		// HTTP GET cannot tell readonly 0 from 2: writes are unknown
		// there, never assumed; the native interface tells.
		wantWrite := datastore.Yes
		if want.proto == "http" {
			wantWrite = datastore.Unknown
		}
		if p := f.Privileges; p == nil || p.Verdict(datastore.ImpactReadFiles) != datastore.Yes || p.Verdict(datastore.ImpactWrite) != wantWrite || p.Readonly != wantWrite.Not() {
			t.Errorf("%d: privileges %+v, want file_read, ddl %s, readonly %s", f.Port, f.Privileges, wantWrite, wantWrite.Not())
		}
		if !slices.ContainsFunc(f.Reasons, func(r string) bool { return strings.Contains(r, "file()") }) {
			t.Errorf("%d: reasons %q do not mention file()", f.Port, f.Reasons)
		}
	}
	if lvl := fs[1].Privileges.Details["readonly_level"]; lvl != float64(0) {
		t.Errorf("native readonly level = %v, want 0", lvl)
	}

	f := fs[0]
	log := findTable(t, f, "default", "log_stream")
	if log.Rows != lab.LogStreamRows || !log.RowsExact || log.Engine != "MergeTree" || log.Bytes <= 0 {
		t.Errorf("log_stream: rows %d exact %v engine %s bytes %d, want %d exact MergeTree >0", log.Rows, log.RowsExact, log.Engine, log.Bytes, lab.LogStreamRows)
	}
	for _, c := range []string{"chat_log", "secret", "pii"} {
		if !slices.Contains(log.Classes, c) {
			t.Errorf("log_stream classes %q lack %s", log.Classes, c)
		}
	}
	var colNames []string
	for _, c := range log.Columns {
		colNames = append(colNames, c.Name+" "+c.Type)
	}
	if !slices.Contains(colNames, "string.values Array(String)") {
		t.Errorf("log_stream columns %q lack string.values Array(String)", colNames)
	}
	if log.Sampled == nil || log.Sampled.Rows == 0 || log.Sampled.Rows*100 >= lab.LogStreamRows {
		t.Errorf("log_stream read back %+v rows, want some and under 1%% of %d", log.Sampled, lab.LogStreamRows)
	}
	kinds := map[string]bool{}
	for _, d := range f.Detections {
		if d.Location.Table == "log_stream" {
			kinds[d.Kind] = true
		}
		if len(d.Fingerprint) != 64 || d.Redacted == "" {
			t.Errorf("detection %+v lacks a fingerprint or redacted value", d)
		}
	}
	for _, k := range append(slices.Clone(lab.SecretKinds), lab.PIIKinds...) {
		if !kinds[k] {
			t.Errorf("no %s detection in log_stream; found kinds %v", k, keys(kinds))
		}
		if log.Leaks[k] <= 0 {
			t.Errorf("log_stream leaks[%s] = %d, want the server's count of candidate rows", k, log.Leaks[k])
		}
	}
	if got := lab.LogStreamRows / 400 / len(lab.SecretKinds); log.Leaks["openai"] < int64(got/2) || log.Leaks["openai"] > int64(got*2) {
		t.Errorf("log_stream leaks[openai] = %d, want about %d (one row in 400 holds one of %d secret kinds)", log.Leaks["openai"], got, len(lab.SecretKinds))
	}
	users := findTable(t, f, "default", "users")
	if users.Rows != 5000 || !slices.Contains(users.Classes, "pii") || slices.Contains(users.Classes, "secret") {
		t.Errorf("users: rows %d classes %q, want 5000 and pii only", users.Rows, users.Classes)
	}
	views := findTable(t, f, "analytics", "page_views")
	if len(views.Classes) != 0 {
		t.Errorf("analytics.page_views classes %q, want none (it holds no secrets or personal data)", views.Classes)
	}

	// No raw secret anywhere: the engine finds nothing in the report itself.
	if ds := classify.Default().Scan(out); len(ds) > 0 {
		t.Errorf("the jsonl report holds %d raw values the engine detects, first %+v", len(ds), ds[0])
	}
	if ds := classify.Default().Scan(stderr); len(ds) > 0 {
		t.Errorf("standard error holds raw values: %+v", ds[0])
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func findTable(t *testing.T, f assess.Finding, db, name string) datastore.Table {
	t.Helper()
	for _, d := range f.Inventory.Databases {
		if d.Name != db {
			continue
		}
		for _, x := range d.Tables {
			if x.Name == name {
				return x
			}
		}
	}
	t.Fatalf("%d: no table %s.%q in the inventory", f.Port, db, name)
	return datastore.Table{}
}

func TestScanHostileNames(t *testing.T) {
	requireLab(t)
	_, out, _ := scanCLI(t, lab.Open.Host, "-p", "9000", "-f", "jsonl")
	fs := decodeFindings(t, out)
	if len(fs) != 1 {
		t.Fatalf("scan -p 9000 found %d services, want 1", len(fs))
	}
	for _, c := range []struct {
		name string
		rows int64
	}{{lab.InjectionTable, 2}, {lab.BacktickTable, 1}, {lab.EscapeTable, 1}} {
		tb := findTable(t, fs[0], "default", c.name)
		if tb.Rows != c.rows || !tb.RowsExact {
			t.Errorf("table %q: rows %d exact %v, want %d exact", c.name, tb.Rows, tb.RowsExact, c.rows)
		}
	}
	if tb := findTable(t, fs[0], "default", lab.InjectionTable); !slices.Contains(tb.Classes, "secret") {
		t.Errorf("table %q was not sampled: classes %q, want secret (a GitHub token is planted)", lab.InjectionTable, tb.Classes)
	}
	if tb := findTable(t, fs[0], "default", lab.EscapeTable); !slices.Contains(tb.Classes, "pii") || tb.Columns[0].Name != lab.EscapeColumn {
		t.Errorf("table %q: classes %q columns %+v, want pii in column %q", lab.EscapeTable, tb.Classes, tb.Columns, lab.EscapeColumn)
	}

	for _, format := range []string{"text", "markdown"} {
		_, out, _ := scanCLI(t, lab.Open.Host, "-p", "9000", "-f", format, "--color", "never")
		if i := strings.IndexAny(out, "\x1b\x07"); i >= 0 {
			t.Errorf("-f %s output holds a raw control character at byte %d: %q", format, i, out[max(0, i-40):min(len(out), i+40)])
		}
		if !strings.Contains(out, `esc\x1b]0;pwned\a\x1b[31mred`) {
			t.Errorf("-f %s output does not show the escape-sequence table name escaped", format)
		}
	}
}

func TestScanLockedServer(t *testing.T) {
	requireLab(t)
	code, out, _ := scanCLI(t, lab.Locked.Host, "-f", "jsonl")
	fs := decodeFindings(t, out)
	if len(fs) != 2 {
		t.Fatalf("scan %s found %d services, want 2", lab.Locked.Host, len(fs))
	}
	for _, f := range fs {
		if f.Auth != "required" || f.AuthCode != 194 || f.Inventory != nil || f.Severity > assess.Low {
			t.Errorf("%d: auth %s code %d inventory %v severity %s, want required 194, none, at most low", f.Port, f.Auth, f.AuthCode, f.Inventory != nil, f.Severity)
		}
	}
	if code != exitClean {
		t.Errorf("exit = %d, want %d: a password-protected server is below the default --fail-on high", code, exitClean)
	}
	if strings.Contains(out, lab.Locked.Password) {
		t.Errorf("output holds the lab's password")
	}
}

func TestScanReadonlyServerOnOddPorts(t *testing.T) {
	requireLab(t)
	_, out, _ := scanCLI(t, lab.Readonly.Host, "-f", "jsonl")
	if fs := decodeFindings(t, out); len(fs) != 0 {
		t.Errorf("scan %s on default ports found %d services, want none (it listens on 18123 and 19000)", lab.Readonly.Host, len(fs))
	}
	code, out, stderr := scanCLI(t, lab.Readonly.Host, "-p", "18123,19000", "-f", "jsonl")
	fs := decodeFindings(t, out)
	if len(fs) != 2 || fs[0].Protocol != "http" || fs[1].Protocol != "native" {
		t.Fatalf("scan -p 18123,19000 found %d services, want HTTP on 18123 and native on 19000:\n%s\n%s", len(fs), out, stderr)
	}
	for _, f := range fs {
		p := f.Privileges
		if p == nil || p.Readonly != datastore.Yes || len(p.Capabilities) != 3 || slices.ContainsFunc(p.Capabilities, func(c datastore.Capability) bool { return c.Granted != datastore.No }) {
			t.Errorf("%d: privileges %+v, want readonly without ddl, table functions or file()", f.Port, p)
		}
		if p != nil && p.Details["readonly_level"] != float64(1) {
			t.Errorf("%d: readonly level %v, want 1", f.Port, p.Details["readonly_level"])
		}
		if f.Severity != assess.Critical {
			t.Errorf("%d: severity %s, want critical (secrets readable without a password)", f.Port, f.Severity)
		}
		events := findTable(t, f, "default", "events")
		if events.Rows != 2000 || !slices.Contains(events.Classes, "secret") {
			t.Errorf("%d: events rows %d classes %q, want 2000 with secret", f.Port, events.Rows, events.Classes)
		}
	}
	if code != exitFindings {
		t.Errorf("exit = %d, want %d", code, exitFindings)
	}
}

func TestScanWebServerIsNotClickHouse(t *testing.T) {
	requireLab(t)
	code, out, stderr := scanCLI(t, fmt.Sprintf("%s:%d", lab.WebHost, lab.WebPort), "-f", "jsonl")
	if fs := decodeFindings(t, out); len(fs) != 0 {
		t.Errorf("the nginx that answers Ok. was reported as %d services: %s", len(fs), out)
	}
	if code != exitClean {
		t.Errorf("exit = %d, want %d; stderr: %s", code, exitClean, stderr)
	}
}

func TestScanRange(t *testing.T) {
	requireLab(t)
	// 127.0.0.1 is the machine's, not the lab's.
	_, out, _ := scanCLI(t, "127.0.0.0/29", "--exclude", "127.0.0.1", "-f", "jsonl", "--no-sample")
	got := map[string]string{}
	for _, f := range decodeFindings(t, out) {
		got[fmt.Sprintf("%s:%d", f.IP, f.Port)] = string(f.Auth)
		if f.Inventory != nil {
			for _, db := range f.Inventory.Databases {
				for _, tb := range db.Tables {
					if tb.Sampled != nil {
						t.Errorf("--no-sample read rows of %s.%s", db.Name, tb.Name)
					}
				}
			}
		}
	}
	want := map[string]string{"127.0.0.2:8123": "none", "127.0.0.2:9000": "none", "127.0.0.3:8123": "required", "127.0.0.3:9000": "required"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("127.0.0.0/29: %s auth = %q, want %q", k, got[k], v)
		}
	}
}

// TestScanChangesNothing snapshots what a scan could change on the open
// server (tables, parts, row counts, settings, files) and compares after a
// full scan of both interfaces.
func TestScanChangesNothing(t *testing.T) {
	requireLab(t)
	ctx := context.Background()
	snapshot := func() string {
		snap, err := lab.Open.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	before := snapshot()
	if code, _, stderr := scanCLI(t, lab.Open.Host, "-q"); code != exitFindings {
		t.Fatalf("scan exit = %d; stderr: %s", code, stderr)
	}
	after := snapshot()
	if before != after {
		t.Errorf("the scan changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(lab.Dir(), "open", "user_files")); err != nil {
		t.Errorf("user_files: %v", err)
	}
}

func TestScanTLSServer(t *testing.T) {
	requireLab(t)
	code, out, stderr := scanCLI(t, lab.TLS.Host, "-f", "jsonl")
	fs := decodeFindings(t, out)
	if len(fs) != 2 {
		t.Fatalf("scan %s found %d services, want HTTPS on 8443 and native+TLS on 9440:\n%s\n%s", lab.TLS.Host, len(fs), out, stderr)
	}
	for i, want := range []struct {
		port  int
		proto string
	}{{8443, "http"}, {9440, "native"}} {
		f := fs[i]
		if f.Port != want.port || f.Protocol != want.proto || !f.TLS || f.Auth != "none" {
			t.Errorf("finding %d = %d/%s tls=%v auth=%s, want %d/%s tls=true auth=none", i, f.Port, f.Protocol, f.TLS, f.Auth, want.port, want.proto)
		}
		if f.Severity != assess.Critical {
			t.Errorf("%d: severity %s, want critical (JWTs readable without a password)", f.Port, f.Severity)
		}
		if slices.ContainsFunc(f.Remediation, func(r string) bool { return strings.Contains(r, "Serve only TLS") }) {
			t.Errorf("%d: remediation asks a TLS-only server for TLS: %q", f.Port, f.Remediation)
		}
		// The lab's certificate is its own, one for both ports.
		if c := f.TLSCert; c == nil || !c.SelfSigned || len(c.SHA256) != 64 || fs[0].TLSCert == nil || c.SHA256 != fs[0].TLSCert.SHA256 || !c.NotAfter.After(time.Now()) {
			t.Errorf("%d: tls_cert = %+v, want the lab's self-signed certificate, still valid, the same on both ports", f.Port, c)
		}
	}
	if tb := findTable(t, fs[0], "default", "sessions"); tb.Rows != 500 || !slices.Contains(tb.Classes, "secret") {
		t.Errorf("sessions: rows %d classes %q, want 500 with secret", tb.Rows, tb.Classes)
	}
	if code != exitFindings {
		t.Errorf("exit = %d, want %d", code, exitFindings)
	}
}

func TestScanIPRestrictedServer(t *testing.T) {
	requireLab(t)
	code, out, _ := scanCLI(t, lab.Restricted.Host, "-f", "jsonl")
	fs := decodeFindings(t, out)
	if len(fs) != 2 {
		t.Fatalf("scan %s found %d services, want 2", lab.Restricted.Host, len(fs))
	}
	for _, f := range fs {
		if f.Auth != "ip-restricted" || f.AuthCode != 195 || f.Inventory != nil || f.Severity != assess.Info {
			t.Errorf("%d: auth %s code %d severity %s, want ip-restricted 195 info, no inventory", f.Port, f.Auth, f.AuthCode, f.Severity)
		}
	}
	if code != exitClean {
		t.Errorf("exit = %d, want %d", code, exitClean)
	}
}

func TestScanTargetErrorsDoNotStopTheScan(t *testing.T) {
	requireLab(t)
	list := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(list, []byte("# lab\nnot a host!\nbad_host!\n"+lab.Locked.Host+"\n999.1.1.1:9000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := scanCLI(t, "-l", list, "-f", "jsonl")
	for _, want := range []string{"targets.txt:2", "targets.txt:3", "targets.txt:5"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("standard error does not name %s:\n%s", want, stderr)
		}
	}
	if fs := decodeFindings(t, out); len(fs) != 2 {
		t.Errorf("found %d services, want the 2 of %s despite the bad lines", len(fs), lab.Locked.Host)
	}
	// The locked server is below --fail-on high, but three targets were
	// skipped: the scan did not cover what it was asked to.
	if code != exitError {
		t.Errorf("exit = %d, want %d (targets skipped, no finding at or above --fail-on)", code, exitError)
	}
}

// A resumed scan whose earlier run found the open server exits 1 even when
// it has nothing left to do: resuming cannot bypass --fail-on.
func TestScanResumedExitCountsEarlierFindings(t *testing.T) {
	requireLab(t)
	dir := t.TempDir()
	args := []string{lab.Open.Host, "-p", "9000", "--no-sample", "-f", "jsonl", "-o", filepath.Join(dir, "out.jsonl"), "--resume", filepath.Join(dir, "resume.log"), "-q"}
	if code, _, stderr := scanCLI(t, args...); code != exitFindings {
		t.Fatalf("first run: exit %d, want %d\n%s", code, exitFindings, stderr)
	}
	code, _, stderr := scanCLI(t, args...)
	if code != exitFindings {
		t.Errorf("resumed run: exit %d, want %d\n%s", code, exitFindings, stderr)
	}
	if got := readEndpoints(t, filepath.Join(dir, "out.jsonl")); len(got) != 1 {
		t.Errorf("after the resumed run, -o holds %q, want the one finding of the first run", got)
	}
}
