// Package report writes findings as text for a terminal, as JSON lines for
// other tools (the contract of DESIGN.md), as Markdown for a disclosure, and
// as SARIF 2.1.0 and DefectDojo's Generic Findings Import for the tools
// security teams already use.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

// Writer writes findings one at a time, as they are made.
type Writer interface {
	Write(f *assess.Finding) error
	Close() error
}

// Formats lists the output formats.
var Formats = []string{"text", "jsonl", "markdown", "sarif", "defectdojo"}

// IsDocument reports whether format writes one document, complete only
// once closed (SARIF, DefectDojo), rather than a record per finding.
func IsDocument(format string) bool { return format == "sarif" || format == "defectdojo" }

// FileFormats lists the formats of findings in files beyond text and jsonl.
var FileFormats = []string{"sarif", "defectdojo"}

// FileWriter writes detections in files, one at a time, as they are made.
type FileWriter interface {
	WriteFile(f classify.Finding) error
	Close() error
}

// NewFiles returns a writer of detections in files in format (one of
// FileFormats) to w.
func NewFiles(format string, w io.Writer) (FileWriter, error) {
	switch format {
	case "sarif":
		return &sarifWriter{w: w, files: true, index: map[string]int{}}, nil
	case "defectdojo":
		return &defectDojoWriter{w: w}, nil
	}
	return nil, fmt.Errorf("format %q is not one of %s", format, strings.Join(FileFormats, ", "))
}

// New returns a writer of format to w; colour applies to text only.
func New(format string, w io.Writer, colour bool) (Writer, error) {
	switch format {
	case "text":
		return &textWriter{w: w, colour: colour}, nil
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return &jsonlWriter{enc: enc}, nil
	case "markdown", "md":
		return &markdownWriter{w: w}, nil
	case "sarif":
		return &sarifWriter{w: w, index: map[string]int{}}, nil
	case "defectdojo":
		return &defectDojoWriter{w: w}, nil
	}
	return nil, fmt.Errorf("format %q is not one of %s", format, strings.Join(Formats, ", "))
}

type jsonlWriter struct{ enc *json.Encoder }

func (j *jsonlWriter) Write(f *assess.Finding) error { return j.enc.Encode(f) }
func (j *jsonlWriter) Close() error                  { return nil }

// Safe escapes a string from a server for a terminal or a document: control
// characters (escape sequences above all) and invalid UTF-8 become visible
// \x escapes; everything printable is kept.
func Safe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		i += escapeRune(&b, s, i)
	}
	return b.String()
}

// escapeRune writes the rune of s at i, escaped as Safe does, and returns
// its length in s.
func escapeRune(b *strings.Builder, s string, i int) int {
	r, w := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && w == 1:
		fmt.Fprintf(b, `\x%02x`, s[i])
	case r == '\\':
		b.WriteString(`\\`)
	case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	default:
		b.WriteRune(r)
	}
	return w
}

// How much of a name from a server a text or Markdown report shows; jsonl
// holds every name whole. Shown whole, one name of a megabyte would widen
// every row of an aligned table to a megabyte.
const (
	cellWidth = 64  // a cell of a table
	lineWidth = 200 // a name in a line of prose
)

// clip is Safe(s) cut to at most width characters, ending in "…" when cut.
// It reads no more of s than it shows, so its cost is that of its output.
func clip(s string, width int) string {
	var b strings.Builder
	shown, cut := 0, 0 // characters written; bytes of b holding at most width-1 of them
	for i := 0; i < len(s); {
		if shown <= width-1 {
			cut = b.Len()
		}
		n := b.Len()
		i += escapeRune(&b, s, i)
		shown += utf8.RuneCountInString(b.String()[n:])
		if shown > width {
			return b.String()[:cut] + "…"
		}
	}
	return b.String()
}

// certSummary is one line on a server's certificate: who vouches for it,
// whom it names, until when, and its fingerprint to compare it by.
func certSummary(c *datastore.Cert) string {
	var parts []string
	if c.SelfSigned {
		parts = append(parts, "self-signed")
	} else {
		parts = append(parts, "issued by "+clip(c.Issuer, 60))
	}
	parts = append(parts, "subject "+clip(c.Subject, 60))
	parts = append(parts, "expires "+c.NotAfter.UTC().Format("2006-01-02"))
	sum := c.SHA256
	if len(sum) > 16 {
		sum = sum[:16] + "…"
	}
	return strings.Join(append(parts, "sha256 "+Safe(sum)), ", ")
}

func count(n int64) string {
	if n < 0 {
		return "?"
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func size(n int64) string {
	switch {
	case n < 0:
		return "?"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// yesNo prints a verdict: yes, no, or unknown when it could not be judged.
func yesNo(v datastore.Verdict) string { return v.String() }

// capabilities lists what the user can do, each as id=verdict (impact):
// "ddl=yes (write) file=unknown (read_files)".
func capabilities(p *datastore.Privileges) string {
	parts := make([]string, len(p.Capabilities))
	for i, c := range p.Capabilities {
		parts[i] = fmt.Sprintf("%s=%s (%s)", clip(c.ID, cellWidth), yesNo(c.Granted), clip(string(c.Impact), cellWidth))
	}
	return strings.Join(parts, " ")
}

// qualified names t as a report does: database, path and name.
func qualified(db datastore.Database, t datastore.Table) string {
	if t.Database == "" {
		t.Database = db.Name
	}
	return t.QualifiedName()
}

// where names a detection's place: database, path, table and column.
func where(l assess.Location) string {
	parts := append([]string{l.Database}, l.Path...)
	return strings.Join(append(parts, l.Table, l.Column), ".")
}

var severityColour = map[assess.Severity]string{
	assess.Critical: "\x1b[1;97;41m", assess.High: "\x1b[1;31m", assess.Medium: "\x1b[33m",
	assess.Low: "\x1b[36m", assess.Info: "\x1b[2m",
}

// textPerKind is how many detections of one kind a terminal shows.
const textPerKind = 3

type textWriter struct {
	w      io.Writer
	colour bool
	n      int
	// shown holds what the text of each endpoint written in full said, for
	// the endpoints of the same server after it; held, the findings of
	// such endpoints that came before it, written once it is.
	shown map[string]shownFinding
	held  map[string][]*assess.Finding
}

// shownFinding is what a finding written in full said that another
// endpoint of the same server need not repeat.
type shownFinding struct {
	tls, privileges                         string
	notes, reasons, remediation, incomplete map[string]bool
}

// endpoint names f's endpoint as its same_server_as does (ip:port).
func endpoint(f *assess.Finding) string { return net.JoinHostPort(f.IP, strconv.Itoa(f.Port)) }

// Write writes f in full, unless it is another endpoint of a server
// written in full already: then one line says so, with only what this
// endpoint adds (a reason or a fix its protocol proves, an error). A
// finding of such an endpoint that comes before the server's first
// (the scan emits them as they finish) waits for it.
func (t *textWriter) Write(f *assess.Finding) error {
	if t.shown == nil {
		t.shown, t.held = map[string]shownFinding{}, map[string][]*assess.Finding{}
	}
	if f.SameServerAs != "" {
		first, ok := t.shown[f.SameServerAs]
		if !ok {
			t.held[f.SameServerAs] = append(t.held[f.SameServerAs], f)
			return nil
		}
		return t.write(t.folded(f, first))
	}
	if err := t.write(t.full(f)); err != nil {
		return err
	}
	if f.Auth != datastore.AuthNone {
		return nil // only a session opened finds its server's other endpoints
	}
	ep := endpoint(f)
	t.shown[ep] = shown(f)
	held := t.held[ep]
	delete(t.held, ep)
	for _, h := range held {
		if err := t.write(t.folded(h, t.shown[ep])); err != nil {
			return err
		}
	}
	return nil
}

func (t *textWriter) write(s string) error {
	if t.n > 0 {
		s = "\n" + s
	}
	t.n++
	_, err := io.WriteString(t.w, s)
	return err
}

// Close writes in full the findings still waiting for their server's
// first endpoint, which never came (an interrupted scan).
func (t *textWriter) Close() error {
	var eps []string
	for ep := range t.held {
		eps = append(eps, ep)
	}
	sort.Strings(eps)
	for _, ep := range eps {
		for _, f := range t.held[ep] {
			if err := t.write(t.full(f)); err != nil {
				return err
			}
		}
	}
	t.held = nil
	return nil
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func shown(f *assess.Finding) shownFinding {
	s := shownFinding{notes: set(f.Notes), reasons: set(f.Reasons), remediation: set(f.Remediation), incomplete: set(f.Errors)}
	if f.TLSCert != nil {
		s.tls = certSummary(f.TLSCert)
	}
	if f.Privileges != nil {
		s.privileges = privileges(f.Privileges)
	}
	return s
}

// header is the first line of a finding: severity, host, port, engine and
// protocol.
func (t *textWriter) header(f *assess.Finding) string {
	sev := strings.ToUpper(f.Severity.String())
	if t.colour {
		sev = severityColour[f.Severity] + " " + sev + " \x1b[0m"
	}
	host := clip(f.Host, lineWidth)
	if host != f.IP {
		host += " (" + f.IP + ")"
	}
	proto := f.Protocol
	if f.TLS {
		proto += "+tls"
	}
	return fmt.Sprintf("%s  %s port %d  %s/%s", sev, host, f.Port, f.Engine, proto)
}

// privileges is the line of what the user may do.
func privileges(p *datastore.Privileges) string {
	s := fmt.Sprintf("  privileges: readonly=%s", yesNo(p.Readonly))
	if len(p.Capabilities) > 0 {
		s += fmt.Sprintf("  capabilities: %s", capabilities(p))
	}
	return s + "\n"
}

// folded is the text of another endpoint of a server written in full
// above: a line, and what this endpoint says that the first did not.
func (t *textWriter) folded(f *assess.Finding, first shownFinding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — same server as %s, see above\n", t.header(f), f.SameServerAs)
	if f.TLSCert != nil && certSummary(f.TLSCert) != first.tls {
		fmt.Fprintf(&b, "  tls: %s\n", certSummary(f.TLSCert))
	}
	for _, n := range f.Notes {
		if !first.notes[n] {
			fmt.Fprintf(&b, "  note: %s\n", clip(n, lineWidth))
		}
	}
	if f.Privileges != nil && privileges(f.Privileges) != first.privileges {
		b.WriteString(privileges(f.Privileges))
	}
	list := func(title string, xs []string, seen map[string]bool, width int) {
		n := 0
		for _, x := range xs {
			if seen[x] {
				continue
			}
			if n++; n == 1 {
				fmt.Fprintf(&b, "  %s (besides the above):\n", title)
			}
			fmt.Fprintf(&b, "    - %s\n", clip(x, width))
		}
	}
	list("why", f.Reasons, first.reasons, lineWidth)
	list("fix", f.Remediation, first.remediation, 2*lineWidth)
	for _, e := range f.Errors {
		if !first.incomplete[e] {
			fmt.Fprintf(&b, "  incomplete: %s\n", clip(e, lineWidth))
		}
	}
	return b.String()
}

// full is the text of a finding written in full.
func (t *textWriter) full(f *assess.Finding) string {
	var b strings.Builder
	b.WriteString(t.header(f))
	if f.Version != "" {
		fmt.Fprintf(&b, "  version %s", clip(f.Version, lineWidth))
	}
	if f.Timezone != "" {
		fmt.Fprintf(&b, "  tz %s", clip(f.Timezone, lineWidth))
	}
	if f.DisplayName != "" {
		fmt.Fprintf(&b, "  name %s", clip(f.DisplayName, lineWidth))
	}
	fmt.Fprintf(&b, "\n  auth: %s\n", f.Auth)
	if f.TLSCert != nil {
		fmt.Fprintf(&b, "  tls: %s\n", certSummary(f.TLSCert))
	}
	for _, n := range f.Notes {
		fmt.Fprintf(&b, "  note: %s\n", clip(n, lineWidth))
	}
	if f.Privileges != nil {
		b.WriteString(privileges(f.Privileges))
	}
	b.WriteString("  why:\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(&b, "    - %s\n", clip(r, lineWidth))
	}
	if f.SameServerAs != "" {
		fmt.Fprintf(&b, "  same server as %s: its tables and detections are listed with that endpoint\n", f.SameServerAs)
	} else if inv := f.Inventory; inv != nil {
		writeTables(&b, inv)
	}
	if len(f.Detections) > 0 && f.SameServerAs == "" {
		b.WriteString("  detections (redacted):\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    KIND\tRULE\tWHERE\tVALUE\tSEEN\tCHECKED")
		perKind := map[string]int{}
		hidden := 0
		for _, d := range sortedDetections(f.Detections) {
			if perKind[d.Kind]++; perKind[d.Kind] > textPerKind {
				hidden++
				continue
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%d\t%s\n", d.Kind, d.Rule,
				clip(where(d.Location), cellWidth), clip(d.Redacted, cellWidth), d.Occurrences, checked(d.Validated))
		}
		tw.Flush()
		if hidden > 0 {
			fmt.Fprintf(&b, "    … and %d more (every one is in -f jsonl)\n", hidden)
		}
	}
	if len(f.Remediation) > 0 {
		b.WriteString("  fix:\n")
		for _, r := range f.Remediation {
			fmt.Fprintf(&b, "    - %s\n", clip(r, 2*lineWidth)) // advice may quote a server's names
		}
	}
	for _, e := range f.Errors {
		fmt.Fprintf(&b, "  incomplete: %s\n", clip(e, lineWidth))
	}
	return b.String()
}

func checked(v bool) string {
	if v {
		return "validated"
	}
	return ""
}

func writeTables(b *strings.Builder, inv *datastore.Inventory) {
	var sys []string
	rows := 0
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	var remote []string
	for _, db := range inv.Databases {
		if db.System {
			sys = append(sys, fmt.Sprintf("%s (%d tables)", clip(db.Name, cellWidth), db.TableCount))
			continue
		}
		if db.Engine != "" {
			remote = append(remote, fmt.Sprintf("%s (engine %s)", clip(db.Name, cellWidth), clip(db.Engine, cellWidth)))
			continue
		}
		for _, t := range db.Tables {
			if rows == 0 {
				fmt.Fprintln(tw, "    TABLE\tKIND\tENGINE\tROWS\tSIZE\tREAD BACK\tHOLDS\t")
			}
			rows++
			read := ""
			if t.Sampled != nil {
				read = count(t.Sampled.Rows) + " rows"
			}
			rowsText := count(t.Rows)
			if t.Rows >= 0 && !t.RowsExact {
				rowsText = "~" + rowsText
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", clip(qualified(db, t), cellWidth), clip(t.Kind, cellWidth), clip(t.Engine, cellWidth), rowsText, size(t.Bytes), read, strings.Join(t.Classes, " "))
		}
	}
	if rows > 0 {
		b.WriteString("  tables:\n")
		tw.Flush()
		first := true
		for _, db := range inv.Databases {
			for _, t := range db.Tables {
				if len(t.Leaks)+len(t.Context) == 0 {
					continue
				}
				if first {
					b.WriteString("  leaks (rows holding a match):\n")
					first = false
				}
				line := leaks(t)
				if len(t.Conversations) > 0 {
					var in []string
					for _, c := range capList(t.Conversations, 3) {
						in = append(in, clip(c, cellWidth))
					}
					line += " (conversations in " + strings.Join(in, ", ") + ")"
				}
				if len(t.Context) > 0 {
					if line != "" {
						line += "; "
					}
					line += "context, not leaks: " + contextCounts(t)
				}
				fmt.Fprintf(b, "    %s: %s, %s\n", clip(qualified(db, t), lineWidth), line, countedBy(t))
			}
		}
	} else {
		b.WriteString("  tables: none outside system databases\n")
	}
	if len(sys) > 0 {
		fmt.Fprintf(b, "  system: %s\n", strings.Join(sys, ", "))
	}
	if len(remote) > 0 {
		fmt.Fprintf(b, "  not opened (tables live elsewhere; listing them makes the server reach out): %s\n", strings.Join(remote, ", "))
	}
	if inv.Truncated && len(inv.Truncation) == 0 {
		b.WriteString("  (listing cut short by a limit)\n")
	}
	// The inventory's own truncation is among the reasons (assess).
	for _, db := range inv.Databases {
		for _, t := range db.Tables {
			for _, why := range t.Truncation {
				fmt.Fprintf(b, "  incomplete: %s: %s\n", clip(qualified(db, t), lineWidth), clip(why, 2*lineWidth))
			}
		}
	}
}

// leaks lists a table's leak counts by kind.
func leaks(t datastore.Table) string {
	var kinds []string
	for k := range t.Leaks {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var ls []string
	for _, k := range kinds {
		ls = append(ls, fmt.Sprintf("%s %s", k, count(t.Leaks[k])))
	}
	return strings.Join(ls, ", ")
}

// contextCounts lists a table's context counts by kind (IP addresses).
func contextCounts(t datastore.Table) string {
	var ls []string
	for _, k := range slices.Sorted(maps.Keys(t.Context)) {
		ls = append(ls, fmt.Sprintf("%s %s", k, count(t.Context[k])))
	}
	return strings.Join(ls, ", ")
}

// capList keeps the first n of s, and says how many more there were.
func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

// countedBy says where a table's leak counts come from.
func countedBy(t datastore.Table) string {
	switch t.LeaksCounted {
	case "sample":
		return "counted in the rows read back"
	case "estimate":
		return "estimated by the server from a random part of the table"
	}
	return "counted by the server over the whole table"
}

// holds describes a table's classes with their leak counts.
func holds(t datastore.Table) string {
	h := strings.Join(t.Classes, ", ")
	if l := leaks(t); l != "" && t.LeaksCounted == "sample" {
		h += " (rows read back: " + l + ")"
	} else if l != "" {
		h += " (rows: " + l + ")"
	}
	return h
}

func sortedDetections(ds []assess.Detection) []assess.Detection {
	out := append([]assess.Detection(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return out[i].Category > out[j].Category // secret before pii
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}
