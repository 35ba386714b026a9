package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A secret classify finds; its raw text must never be written.
const formatsSecret = "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"

func TestClassifySARIFNamesFileLineAndColumn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	os.WriteFile(path, []byte("first line\nHF_TOKEN="+formatsSecret+"\n"), 0o644)
	t.Chdir(dir)
	code, out, errOut := classifyCLI(t, "", "-f", "sarif", "app.log")
	if code != exitFindings {
		t.Fatalf("classify -f sarif = %d, want %d; stderr %s", code, exitFindings, errOut)
	}
	if strings.Contains(out, formatsSecret) {
		t.Fatal("classify -f sarif writes the raw secret")
	}
	var doc struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct {
				RuleID    string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn, EndColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("classify -f sarif is not one JSON document: %v\n%s", err, out)
	}
	if len(doc.Runs) != 1 || len(doc.Runs[0].Results) != 1 {
		t.Fatalf("runs/results = %+v, want one result", doc)
	}
	r := doc.Runs[0].Results[0]
	loc := r.Locations[0].PhysicalLocation
	if r.RuleID != "huggingface-token" || loc.ArtifactLocation.URI != "app.log" || loc.Region.StartLine != 2 ||
		loc.Region.StartColumn != len("HF_TOKEN=")+1 || loc.Region.EndColumn != len("HF_TOKEN=")+len(formatsSecret)+1 {
		t.Errorf("result = %+v, want huggingface-token at app.log line 2 columns %d-%d", r, len("HF_TOKEN=")+1, len("HF_TOKEN=")+len(formatsSecret)+1)
	}
	if rules := doc.Runs[0].Tool.Driver.Rules; len(rules) != 1 || rules[0].ID != "huggingface-token" {
		t.Errorf("rules = %+v, want huggingface-token", rules)
	}
}

func TestClassifyDefectDojo(t *testing.T) {
	code, out, errOut := classifyCLI(t, "HF_TOKEN="+formatsSecret+"\n", "-f", "defectdojo", "-")
	if code != exitFindings {
		t.Fatalf("classify -f defectdojo = %d, want %d; stderr %s", code, exitFindings, errOut)
	}
	var doc struct{ Findings []map[string]any }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Findings) != 1 {
		t.Fatalf("classify -f defectdojo = %v findings, err %v:\n%s", len(doc.Findings), err, out)
	}
	if f := doc.Findings[0]; f["severity"] != "High" || f["line"] != float64(1) || f["static_finding"] != true || strings.Contains(out, formatsSecret) {
		t.Errorf("finding = %v, want High, line 1, static, no raw secret", f)
	}
}

func TestClassifyRejectsUnknownFormat(t *testing.T) {
	code, _, errOut := classifyCLI(t, "", "-f", "xml", "-")
	if code != exitError || !strings.Contains(errOut, "sarif") {
		t.Errorf("classify -f xml = %d, %q; want %d naming the formats", code, errOut, exitError)
	}
}

func TestScanRefusesToAppendADocument(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"sarif", "defectdojo"} {
		out := filepath.Join(dir, "out."+format)
		code, _, stderr := scanCLI(t, "127.0.29.1", "-p", "1", "-f", format, "-o", out, "--resume", filepath.Join(dir, "resume.log"))
		if code != exitError || !strings.Contains(stderr, "cannot be appended to") {
			t.Errorf("scan -f %s -o --resume = %d, %q; want %d and a refusal", format, code, stderr, exitError)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("scan -f %s --resume created %s before refusing", format, out)
		}
	}
}

func TestScanWritesAnEmptySARIFDocument(t *testing.T) {
	code, stdout, stderr := scanCLI(t, "127.0.29.1", "-p", "1", "--no-brute", "-f", "sarif")
	if code != exitClean {
		t.Fatalf("scan -f sarif of nothing = %d; stderr %s", code, stderr)
	}
	var doc struct {
		Version string
		Runs    []struct{ Results []any }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc.Version != "2.1.0" || len(doc.Runs) != 1 || len(doc.Runs[0].Results) != 0 {
		t.Errorf("scan -f sarif of nothing wrote %q (%v), want a SARIF 2.1.0 run without results", stdout, err)
	}
}
