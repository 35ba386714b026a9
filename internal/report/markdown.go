package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/leakhound/leakhound/internal/assess"
)

// markdownWriter writes a finding as a section a person can paste into a
// disclosure email: what is open, why it matters, what leaks, how to fix it.
type markdownWriter struct{ w io.Writer }

// md escapes a server-supplied string for Markdown text and table cells,
// cut to lineWidth.
func md(s string) string {
	return mdEscaper.Replace(clip(s, lineWidth))
}

var mdEscaper = strings.NewReplacer("|", `\|`, "`", "\\`", "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "#", `\#`)

// mdCode escapes a server-supplied string for a code span in a table cell.
// A backslash escapes nothing inside a code span, so backticks become
// quotes; but GitHub splits table cells at "|" before it reads code spans,
// so a pipe must still be written "\|" (shown as "|") or it forges a cell.
// Control characters and newlines are escaped by Safe, through clip.
func mdCode(s string, width int) string {
	return "`" + strings.NewReplacer("`", "'", "|", `\|`).Replace(clip(s, width)) + "`"
}

func (m *markdownWriter) Write(f *assess.Finding) error {
	var b strings.Builder
	proto := f.Protocol
	if f.TLS {
		proto += "+tls"
	}
	fmt.Fprintf(&b, "## %s on %s port %d (%s): %s\n\n", f.Engine, md(f.Host), f.Port, proto, f.Severity)
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Address | %s:%d |\n", md(f.IP), f.Port)
	if f.Version != "" {
		fmt.Fprintf(&b, "| Version | %s |\n", md(f.Version))
	}
	if f.Timezone != "" {
		fmt.Fprintf(&b, "| Server timezone | %s |\n", md(f.Timezone))
	}
	fmt.Fprintf(&b, "| Authentication | %s |\n", f.Auth)
	if f.TLSCert != nil {
		// certSummary is escaped and clipped already; only Markdown's own
		// characters are left to escape.
		fmt.Fprintf(&b, "| TLS certificate | %s |\n", mdEscaper.Replace(certSummary(f.TLSCert)))
	}
	if p := f.Privileges; p != nil {
		fmt.Fprintf(&b, "| Read-only | %s |\n", yesNo(p.Readonly))
		for _, c := range p.Capabilities {
			fmt.Fprintf(&b, "| Capability %s (%s) | %s |\n", md(c.ID), md(string(c.Impact)), yesNo(c.Granted))
		}
	}
	b.WriteString("\n### Why this matters\n\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(&b, "- %s\n", md(r))
	}
	if f.SameServerAs != "" {
		fmt.Fprintf(&b, "\nThe same server answers on %s: what is exposed is listed there.\n", f.SameServerAs)
	} else if inv := f.Inventory; inv != nil {
		b.WriteString("\n### What is exposed\n\n| Table | Kind | Engine | Rows | Size | Holds |\n|---|---|---|--:|--:|---|\n")
		n := 0
		for _, db := range inv.Databases {
			if db.System {
				continue
			}
			for _, t := range db.Tables {
				n++
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdCode(qualified(db, t), lineWidth), md(t.Kind), md(t.Engine), count(t.Rows), size(t.Bytes), md(holds(t)))
			}
		}
		if n == 0 {
			b.WriteString("| (no tables outside system databases) | | | | | |\n")
		}
	}
	if len(f.Detections) > 0 && f.SameServerAs == "" {
		b.WriteString("\n### What leaks (values redacted; fingerprint = HMAC-SHA-256 of the exact value under the scanner's fingerprint key)\n\n| Kind | Where | Redacted | Fingerprint |\n|---|---|---|---|\n")
		perKind := map[string]int{}
		for _, d := range sortedDetections(f.Detections) {
			if perKind[d.Kind]++; perKind[d.Kind] > 5 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | `%s` |\n", d.Kind, md(where(d.Location)),
				mdCode(d.Redacted, cellWidth), d.Fingerprint)
		}
	}
	if len(f.Remediation) > 0 {
		b.WriteString("\n### How to close it\n\n")
		for i, r := range f.Remediation {
			fmt.Fprintf(&b, "%d. %s\n", i+1, md(r))
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(m.w, b.String())
	return err
}

func (m *markdownWriter) Close() error { return nil }
