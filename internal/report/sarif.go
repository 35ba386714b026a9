package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

// Version is leakhound's version, as "leakhound version" prints it and
// the machine-read reports name their tool.
const Version = "0.1.0"

// securitySeverity is the CVSS-like score code-scanning UIs (GitHub's
// "security-severity") rank a rule by: critical 9.5, high 8, medium 5.5,
// low 3, info 0, each inside its band of GitHub's scale (critical > 9.0,
// high 7.0–8.9, medium 4.0–6.9, low 0.1–3.9).
var securitySeverity = map[assess.Severity]string{
	assess.Critical: "9.5", assess.High: "8.0", assess.Medium: "5.5", assess.Low: "3.0", assess.Info: "0.0",
}

// sarifLevel is the SARIF level of a severity: what must be fixed is an
// error, what should be looked at a warning, the rest a note.
func sarifLevel(s assess.Severity) string {
	switch s {
	case assess.Critical, assess.High:
		return "error"
	case assess.Medium:
		return "warning"
	}
	return "note"
}

// rule is one kind of result: an exposed service by how it answered the
// login, a capability by its id, a class of table, a detection by kind.
type rule struct {
	id, name, short string
	tags            []string
}

// item is one result, whatever the format that writes it: a service, a
// capability granted, a table holding a class of data, or a detection.
type item struct {
	rule     rule
	severity assess.Severity
	title    string // one line, escaped and clipped
	message  string // escaped and clipped pieces
	fix      string
	// fpKey names the partialFingerprints entry, fp its value: a digest
	// of what identifies the result across runs and nothing that varies.
	fpKey, fp string
	logical   []logicalLocation
	physical  *physicalLocation
	endpoint  string // ip:port of the service, for DefectDojo
	file      string
	line      int
}

type logicalLocation struct {
	Name               string         `json:"name"`
	FullyQualifiedName string         `json:"fullyQualifiedName"`
	Kind               string         `json:"kind"`
	Properties         map[string]any `json:"properties,omitempty"`
}

type physicalLocation struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
		EndColumn   int `json:"endColumn,omitempty"`
	} `json:"region"`
}

// digest identifies a result across runs: SHA-256 of its parts, each
// prefixed with its length so no name holding the separator can make two
// different parts lists collide.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fqnPart escapes a name for a fullyQualifiedName, whose parts "/" joins.
var fqnPart = strings.NewReplacer("%", "%25", "/", "%2F")

// items turns a scan finding into its results, in the order the text
// report tells them: the service, what its user can do, the tables that
// hold a class of data, and each detection. An endpoint sharing its
// server with another reports only itself, as the text report does.
func items(f *assess.Finding, emit func(*item) error) error {
	endpoint := net.JoinHostPort(f.IP, strconv.Itoa(f.Port))
	svcFP := digest(f.Engine, f.IP, strconv.Itoa(f.Port))
	base := f.Engine + "://" + endpoint
	service := logicalLocation{Name: endpoint, FullyQualifiedName: base, Kind: "resource",
		Properties: map[string]any{"host": Safe(f.Host), "ip": f.IP, "port": f.Port, "engine": f.Engine, "protocol": f.Protocol, "tls": f.TLS}}
	proto := f.Protocol
	if f.TLS {
		proto += "+tls"
	}
	who := fmt.Sprintf("%s on %s port %d (%s)", f.Engine, clip(f.Host, lineWidth), f.Port, proto)
	if f.Host != f.IP {
		who = fmt.Sprintf("%s on %s (%s) port %d (%s)", f.Engine, clip(f.Host, lineWidth), f.IP, f.Port, proto)
	}
	var msg strings.Builder
	msg.WriteString(who + ": ")
	for i, r := range f.Reasons {
		if i > 0 {
			msg.WriteString("; ")
		}
		msg.WriteString(clip(r, lineWidth))
	}
	if f.SameServerAs != "" {
		fmt.Fprintf(&msg, "; same server as %s: its tables and detections are reported there", f.SameServerAs)
	}
	for _, e := range f.Errors {
		msg.WriteString("; incomplete: " + clip(e, lineWidth))
	}
	fixes := make([]string, len(f.Remediation))
	for i, r := range f.Remediation {
		fixes[i] = clip(r, 2*lineWidth)
	}
	svc := &item{rule: serviceRule(f.Auth), severity: f.Severity, title: who + ": " + authPhrase[f.Auth],
		message: msg.String(), fix: strings.Join(fixes, "; "), fpKey: "leakhoundService/v1", fp: svcFP,
		logical: []logicalLocation{service}, endpoint: endpoint}
	if err := emit(svc); err != nil {
		return err
	}
	if f.SameServerAs != "" {
		return nil
	}
	if p := f.Privileges; p != nil {
		for _, c := range p.Capabilities {
			if c.Granted != datastore.Yes {
				continue
			}
			m := clip(c.Summary, lineWidth)
			if c.Evidence != "" {
				m += " (" + clip(c.Evidence, lineWidth) + ")"
			}
			it := &item{rule: rule{id: "capability/" + f.Engine + "/" + c.ID, name: "Capability" + camel(c.ID),
				short: fmt.Sprintf("The user proven on a %s server holds capability %s", f.Engine, c.ID),
				tags:  []string{"security", "capability", string(c.Impact), f.Engine}},
				severity: assess.High, title: who + ": capability " + clip(c.ID, cellWidth) + " granted",
				message: who + ": " + m, fix: clip(c.Remediation, 2*lineWidth),
				fpKey: "leakhoundCapability/v1", fp: digest(svcFP, c.ID),
				logical: []logicalLocation{service}, endpoint: endpoint}
			if err := emit(it); err != nil {
				return err
			}
		}
	}
	if inv := f.Inventory; inv != nil {
		for _, db := range inv.Databases {
			if db.System {
				continue
			}
			for _, t := range db.Tables {
				loc := assess.Location{Database: db.Name, Path: t.Path, Table: t.Name}
				if t.Database != "" {
					loc.Database = t.Database
				}
				for _, class := range t.Classes {
					it := &item{rule: rule{id: "table/" + class, name: "TableHolds" + camel(class),
						short: "A readable table holds " + class, tags: []string{"security", "data-exposure", class}},
						severity: assess.Critical, title: who + ": " + clip(qualified(db, t), lineWidth) + " holds " + class,
						message: who + ": " + clip(qualified(db, t), lineWidth) + " holds " + holds(t),
						fpKey:   "leakhoundTable/v1", fp: digest(append([]string{svcFP, loc.Database, t.Name, class}, t.Path...)...),
						logical: append([]logicalLocation{service}, placeLocations(base, loc)...), endpoint: endpoint}
					if err := emit(it); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, d := range f.Detections {
		sev := detectionSeverity(d.Category, d.Validated)
		place := clip(where(d.Location), lineWidth)
		m := fmt.Sprintf("%s: %s %s (rule %s) in %s: %s, fingerprint %s, seen %d times", who, d.Category, d.Kind, d.Rule,
			place, clip(d.Redacted, cellWidth), clip(d.Fingerprint, cellWidth), d.Occurrences)
		if d.Validated {
			m += ", validated"
		}
		parts := append([]string{svcFP, d.Location.Database, d.Location.Table, d.Location.Column, d.Fingerprint}, d.Location.Path...)
		it := &item{rule: detectionRule(d.Category, d.Kind), severity: sev,
			title: who + ": " + d.Kind + " in " + place, message: m,
			fpKey: "leakhoundDetection/v1", fp: digest(parts...),
			logical: append([]logicalLocation{service}, placeLocations(base, d.Location)...), endpoint: endpoint}
		if err := emit(it); err != nil {
			return err
		}
	}
	return nil
}

// placeLocations names a database, table and column (when set) below the
// service at base: names whole, escaped as Safe does.
func placeLocations(base string, l assess.Location) []logicalLocation {
	fqn := base + "/" + fqnPart.Replace(Safe(l.Database))
	out := []logicalLocation{{Name: Safe(l.Database), FullyQualifiedName: fqn, Kind: "namespace"}}
	for _, p := range l.Path {
		fqn += "/" + fqnPart.Replace(Safe(p))
		out = append(out, logicalLocation{Name: Safe(p), FullyQualifiedName: fqn, Kind: "namespace"})
	}
	fqn += "/" + fqnPart.Replace(Safe(l.Table))
	out = append(out, logicalLocation{Name: Safe(l.Table), FullyQualifiedName: fqn, Kind: "type"})
	if l.Column != "" {
		fqn += "/" + fqnPart.Replace(Safe(l.Column))
		out = append(out, logicalLocation{Name: Safe(l.Column), FullyQualifiedName: fqn, Kind: "member"})
	}
	return out
}

var authPhrase = map[datastore.Auth]string{
	datastore.AuthNone:         "answers without a password",
	datastore.AuthRequired:     "asks for a password",
	datastore.AuthIPRestricted: "is reachable but refuses this address",
	datastore.AuthUnknown:      "answered the login with an unexpected error",
}

func serviceRule(a datastore.Auth) rule {
	return rule{id: "service/auth-" + string(a), name: "ExposedDatastore",
		short: "A datastore reachable from the network " + authPhrase[a], tags: []string{"security", "exposure", "auth-" + string(a)}}
}

func detectionRule(category, kind string) rule {
	return rule{id: "detection/" + kind, name: "Detected" + camel(kind),
		short: "A " + category + " value of kind " + kind + " is stored where it can be read", tags: []string{"security", category, kind}}
}

// camel writes a kind such as "aws_access_key" as "AwsAccessKey", for a
// rule's name, which SARIF wants readable and different from its id.
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// detectionSeverity rates one value: a secret is high, critical once a
// check proved it live; personal data medium.
func detectionSeverity(category string, validated bool) assess.Severity {
	switch {
	case category == "secret" && validated:
		return assess.Critical
	case category == "secret":
		return assess.High
	}
	return assess.Medium
}

// fileItem turns a detection in a file into its result; cols, when not
// nil, finds its columns.
func fileItem(f classify.Finding, cols *columns) *item {
	path := Safe(f.Path)
	m := fmt.Sprintf("%s %s (rule %s): %s, fingerprint %s", f.Category, f.Kind, f.Rule, clip(f.Redacted, cellWidth), clip(f.Fingerprint, cellWidth))
	if f.Validated {
		m += ", validated"
	}
	it := &item{rule: rule{id: f.Rule, name: "Detected" + camel(f.Kind), short: "A " + f.Category + " value of kind " + f.Kind,
		tags: []string{"security", f.Category, f.Kind}}, severity: detectionSeverity(f.Category, f.Validated),
		title: f.Kind + " in " + clip(f.Path, lineWidth), message: m,
		fpKey: "leakhoundDetection/v1", fp: digest(f.Path, f.Rule, f.Fingerprint), file: path, line: f.Line}
	p := &physicalLocation{}
	p.ArtifactLocation.URI = fileURI(f.Path)
	p.Region.StartLine = max(f.Line, 1)
	if cols != nil {
		if from, to, ok := cols.of(f.Path, f.Line, f.Start, f.End); ok {
			p.Region.StartColumn, p.Region.EndColumn = from, to
		}
	}
	it.physical = p
	return it
}

// fileURI is a path as a URI reference: relative paths stay relative (the
// form code-scanning UIs resolve against the checkout), absolute ones
// become file URIs, standard input is "stdin".
func fileURI(p string) string {
	if p == "-" {
		return "stdin"
	}
	u := url.URL{Path: filepath.ToSlash(p)}
	if filepath.IsAbs(p) {
		u.Scheme = "file"
	}
	return u.String()
}

// sarifWriter streams one SARIF 2.1.0 run: each result is written as it
// comes, and the tool with its rules, known only at the end, follows the
// results in the run object (a JSON object's members have no order). It
// holds only the rules, whatever the number of results.
type sarifWriter struct {
	w       io.Writer
	files   bool
	rules   []rule
	worst   []assess.Severity // the highest severity of each rule's results
	index   map[string]int
	started bool
	n       int
	cols    columns // of the detections in files
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifLocation struct {
	PhysicalLocation *physicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []logicalLocation `json:"logicalLocations,omitempty"`
}

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

func (s *sarifWriter) start() error {
	if s.started {
		return nil
	}
	s.started = true
	_, err := io.WriteString(s.w, `{"$schema":"`+sarifSchema+`","version":"2.1.0","runs":[{"results":[`)
	return err
}

func (s *sarifWriter) put(it *item) error {
	if err := s.start(); err != nil {
		return err
	}
	i, ok := s.index[it.rule.id]
	if !ok {
		i = len(s.rules)
		s.index[it.rule.id] = i
		s.rules = append(s.rules, it.rule)
		s.worst = append(s.worst, it.severity)
	}
	s.worst[i] = max(s.worst[i], it.severity)
	r := sarifResult{RuleID: it.rule.id, RuleIndex: i, Level: sarifLevel(it.severity), Message: sarifText{it.message},
		Locations:           []sarifLocation{{PhysicalLocation: it.physical, LogicalLocations: it.logical}},
		PartialFingerprints: map[string]string{it.fpKey: it.fp},
		Properties:          map[string]any{"severity": it.severity.String(), "security-severity": securitySeverity[it.severity]}}
	if it.fix != "" {
		r.Properties["remediation"] = it.fix
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if s.n > 0 {
		b = append([]byte{','}, b...)
	}
	s.n++
	_, err = s.w.Write(append(b, '\n'))
	return err
}

func (s *sarifWriter) Write(f *assess.Finding) error { return items(f, s.put) }

// WriteFile writes a detection in a file.
func (s *sarifWriter) WriteFile(f classify.Finding) error { return s.put(fileItem(f, &s.cols)) }

type sarifRule struct {
	ID                   string    `json:"id"`
	Name                 string    `json:"name"`
	ShortDescription     sarifText `json:"shortDescription"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
	Properties struct {
		SecuritySeverity string   `json:"security-severity"`
		Tags             []string `json:"tags"`
	} `json:"properties"`
}

func (s *sarifWriter) Close() error {
	s.cols.close()
	if err := s.start(); err != nil {
		return err
	}
	rules := make([]sarifRule, len(s.rules))
	for i, r := range s.rules {
		rules[i] = sarifRule{ID: r.id, Name: r.name, ShortDescription: sarifText{r.short}}
		rules[i].DefaultConfiguration.Level = sarifLevel(s.worst[i])
		rules[i].Properties.SecuritySeverity = securitySeverity[s.worst[i]]
		rules[i].Properties.Tags = r.tags
	}
	tool := map[string]any{"driver": map[string]any{"name": "leakhound", "version": Version,
		"informationUri": "https://github.com/leakhound/leakhound", "rules": rules}}
	b, err := json.Marshal(tool)
	if err != nil {
		return err
	}
	tail := `],"tool":` + string(b)
	if s.files {
		// Columns count UTF-16 code units, from 1 (see columns).
		tail += `,"columnKind":"utf16CodeUnits"`
	}
	_, err = io.WriteString(s.w, tail+"}]}\n")
	return err
}
