package report

import (
	"encoding/json"
	"io"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
)

// defectDojoWriter writes DefectDojo's "Generic Findings Import" JSON,
// {"findings":[…]}, one finding a result, as they come. It uses only keys
// DefectDojo's generic JSON parser accepts (dojo/tools/generic/json_parser.py
// rejects the whole file for any other): title, severity, description,
// mitigation, unique_id_from_tool, vuln_id_from_tool, static_finding,
// dynamic_finding, file_path, line, endpoints.
type defectDojoWriter struct {
	w io.Writer
	n int
}

// defectDojoFinding is one finding of the import; see defectDojoWriter.
type defectDojoFinding struct {
	Title       string `json:"title"`
	Severity    string `json:"severity"` // Critical, High, Medium, Low or Info
	Description string `json:"description"`
	Mitigation  string `json:"mitigation,omitempty"`
	// UniqueID is the result's stable fingerprint, which DefectDojo
	// deduplicates re-imports by; VulnID is its rule.
	UniqueID       string   `json:"unique_id_from_tool"`
	VulnID         string   `json:"vuln_id_from_tool"`
	StaticFinding  bool     `json:"static_finding"`
	DynamicFinding bool     `json:"dynamic_finding"`
	FilePath       string   `json:"file_path,omitempty"`
	Line           int      `json:"line,omitempty"`
	Endpoints      []string `json:"endpoints,omitempty"` // "ip:port", which DefectDojo reads as a host and port
}

var defectDojoSeverity = map[assess.Severity]string{
	assess.Critical: "Critical", assess.High: "High", assess.Medium: "Medium", assess.Low: "Low", assess.Info: "Info",
}

func (d *defectDojoWriter) put(it *item) error {
	prefix := ","
	f := defectDojoFinding{Title: it.title, Severity: defectDojoSeverity[it.severity], Description: it.message,
		Mitigation: it.fix, UniqueID: it.fp, VulnID: it.rule.id,
		StaticFinding: it.physical != nil, DynamicFinding: it.physical == nil, FilePath: it.file, Line: it.line}
	if it.endpoint != "" {
		f.Endpoints = []string{it.endpoint}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if d.n == 0 {
		prefix = `{"findings":[`
	}
	d.n++
	_, err = io.WriteString(d.w, prefix+string(b)+"\n")
	return err
}

func (d *defectDojoWriter) Write(f *assess.Finding) error { return items(f, d.put) }

// WriteFile writes a detection in a file.
func (d *defectDojoWriter) WriteFile(f classify.Finding) error { return d.put(fileItem(f, nil)) }

func (d *defectDojoWriter) Close() error {
	if d.n == 0 {
		_, err := io.WriteString(d.w, `{"findings":[]}`+"\n")
		return err
	}
	_, err := io.WriteString(d.w, "]}\n")
	return err
}
