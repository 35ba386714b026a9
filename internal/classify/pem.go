package classify

import (
	"bytes"
	"strings"
)

// Private keys in PEM armour (openssl, PKCS #8) or OpenSSH's own format
// span many lines. In a value (a datastore cell) the private-key rule sees
// the whole block; in a file, scanned line by line, pemBlocks puts the
// lines of a block back together and runs the rule on them.

// pemCanonical returns the canonical form of a PEM private key found as
// value: the BEGIN line, its RFC 1421 headers (Proc-Type, DEK-Info) and a
// blank line if it has any, the base64 body in lines of 64 characters, and
// the END line, each line ending in \n — what Go's encoding/pem writes.
// Line widths (OpenSSH wraps at 70), \r\n, indentation and \n escapes
// (a key inside a JSON string) do not change it, so one key has one
// fingerprint wherever it is found. ok is false if value is not such a
// block; label is its type, such as "RSA PRIVATE KEY".
func pemCanonical(value string) (canon, label string, ok bool) {
	const begin, end, dashes = "-----BEGIN ", "-----END ", "-----"
	if !strings.HasPrefix(value, begin) {
		return "", "", false
	}
	label, rest, found := strings.Cut(value[len(begin):], dashes)
	if !found || !strings.Contains(label, "PRIVATE KEY") || len(label) > 64 {
		return "", "", false
	}
	inner, _, found := strings.Cut(rest, end)
	if !found {
		return "", "", false
	}
	var headers []string
	var body strings.Builder
	for _, line := range strings.FieldsFunc(inner, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(unescapeBreaks(line))
		for _, l := range strings.Split(line, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case l == "":
			case isBase64(l):
				body.WriteString(l)
			case body.Len() == 0 && isPEMHeader(l):
				k, v, _ := strings.Cut(l, ":")
				headers = append(headers, strings.TrimSpace(k)+": "+strings.TrimSpace(v))
			default:
				return "", "", false
			}
		}
	}
	if body.Len() == 0 {
		return "", "", false
	}
	var b strings.Builder
	b.WriteString(begin + label + dashes + "\n")
	for _, h := range headers {
		b.WriteString(h + "\n")
	}
	if len(headers) > 0 {
		b.WriteString("\n")
	}
	s := body.String()
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	b.WriteString(end + label + dashes + "\n")
	return b.String(), label, true
}

// unescapeBreaks turns the escaped line breaks of a string literal (\n,
// \\n, \r\n …) back into line breaks.
func unescapeBreaks(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		if j < len(s) && (s[j] == 'n' || s[j] == 'r') {
			b.WriteByte('\n')
			i = j
			continue
		}
		b.WriteString(s[i:j])
		i = j - 1
	}
	return b.String()
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// isPEMHeader reports whether s is an RFC 1421 header line: a name of
// letters and dashes, a colon, a value.
func isPEMHeader(s string) bool {
	k, _, ok := strings.Cut(s, ":")
	if !ok || k == "" || len(k) > 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// maxPEMBlock bounds the text of a block pemBlocks collects: an RSA key of
// 16,384 bits takes 13 KB.
const maxPEMBlock = 64 << 10

// pemBlocks finds private keys written over several lines of a file. It
// sees the chunks of ScanReader in order, from one goroutine, so a block
// may cross from one chunk to the next. A key is reported on its BEGIN
// line, start and end covering the BEGIN marker, with the fingerprint of
// the whole block (pemCanonical); what line-by-line rules found inside the
// block is part of the key and dropped. The cost is one search for
// "PRIVATE KEY" over the input, and reading the lines of each block.
type pemBlocks struct {
	e    *Engine
	path string
	open *pemBlock
	// held are findings after the open block's BEGIN marker, emitted only
	// if the block turns out not to be a key.
	held []Finding
}

type pemBlock struct {
	line, start, end int // the BEGIN marker: line, byte offsets in it
	label            string
	text             strings.Builder // the block so far, lines joined by \n
	body             bool            // a base64 line was seen
}

// pemSpan is a key's place in the file, from its BEGIN marker to the end
// of its END marker, and the finding reporting it.
type pemSpan struct {
	fromLine, fromStart, toLine, toEnd int
	f                                  Finding
}

func (s pemSpan) holds(f Finding) bool {
	return (f.Line > s.fromLine || f.Line == s.fromLine && f.Start >= s.fromStart) &&
		(f.Line < s.toLine || f.Line == s.toLine && f.Start < s.toEnd)
}

var pemNeedle = []byte("PRIVATE KEY")

// chunk returns the findings of c (found, the engine's, in input order) to
// emit now, in input order, with the keys found whole by the end of c.
func (p *pemBlocks) chunk(c *chunk, found []Finding) []Finding {
	data := c.data
	var out []Finding
	var spans []pemSpan
	if p.open != nil && c.firstOffset > 0 {
		// The line before went on past maxLine: no PEM line is that long.
		p.abandon(&out)
	}
	line := c.firstLine // of data[pos]
	pos := 0
	for pos < len(data) {
		if p.open == nil {
			i := bytes.Index(data[pos:], pemNeedle)
			if i < 0 {
				break
			}
			i += pos
			ls := bytes.LastIndexByte(data[:i], '\n') + 1
			if ls < pos {
				ls = pos
			}
			line += bytes.Count(data[pos:ls], []byte{'\n'})
			le := lineEnd(data, ls)
			off := 0
			if line == c.firstLine {
				off = c.firstOffset
			}
			if b := beginMarker(data[ls:le], off); b != nil {
				b.line = line
				p.open = b
			}
			pos = le
			if pos < len(data) {
				pos++
				line++
			}
			continue
		}
		// Inside a block: read it line by line.
		le := lineEnd(data, pos)
		l := bytes.TrimRight(data[pos:le], "\r")
		switch done, ok := p.open.add(l); {
		case !ok:
			// Not a block after all: this line may itself begin one.
			p.abandon(&out)
			continue
		case done:
			b := p.open
			p.open = nil
			endAt := bytes.Index(l, []byte("-----END ")) + len("-----END ") + len(b.label) + len("-----")
			if d, ok := p.e.scanPEM(b.text.String()); ok {
				d.Start, d.End = b.start, b.end
				spans = append(spans, pemSpan{b.line, b.start, line, endAt, Finding{Path: p.path, Line: b.line, Detection: d}})
				p.held = p.held[:0]
			} else {
				out = append(out, p.held...)
				p.held = p.held[:0]
			}
		}
		pos = le
		if pos < len(data) {
			pos++
			line++
		}
	}
	// Spans that began in an earlier chunk come first: their findings
	// before the BEGIN line were emitted then.
	si := 0
	for si < len(spans) && spans[si].fromLine < c.firstLine {
		out = append(out, spans[si].f)
		si++
	}
	for _, f := range found {
		for si < len(spans) && (spans[si].fromLine < f.Line || spans[si].fromLine == f.Line && spans[si].fromStart <= f.Start) {
			out = append(out, spans[si].f)
			si++
		}
		if inSpans(spans, f) {
			continue
		}
		if b := p.open; b != nil && (f.Line > b.line || f.Line == b.line && f.Start >= b.start) {
			p.held = append(p.held, f)
			continue
		}
		out = append(out, f)
	}
	for ; si < len(spans); si++ {
		out = append(out, spans[si].f)
	}
	return out
}

// flush emits what an unfinished block held back, at the end of input.
func (p *pemBlocks) flush(fn func(Finding)) {
	for _, f := range p.held {
		fn(f)
	}
	p.open, p.held = nil, nil
}

func (p *pemBlocks) abandon(out *[]Finding) {
	*out = append(*out, p.held...)
	p.open, p.held = nil, p.held[:0]
}

func inSpans(spans []pemSpan, f Finding) bool {
	for _, s := range spans {
		if s.holds(f) {
			return true
		}
	}
	return false
}

func lineEnd(data []byte, from int) int {
	if i := bytes.IndexByte(data[from:], '\n'); i >= 0 {
		return from + i
	}
	return len(data)
}

// beginMarker returns the block a line opens: one ending in a BEGIN marker
// of a private key, with nothing after it but blanks (a whole key on one
// line, with \n escapes, is the private-key rule's). off is where the line
// starts in its line of the file.
func beginMarker(l []byte, off int) *pemBlock {
	l = bytes.TrimRight(l, " \t\r")
	const begin, dashes = "-----BEGIN ", "-----"
	if !bytes.HasSuffix(l, []byte(dashes)) {
		return nil
	}
	i := bytes.LastIndex(l, []byte(begin))
	if i < 0 {
		return nil
	}
	label := string(l[i+len(begin) : len(l)-len(dashes)])
	if !strings.HasSuffix(label, "PRIVATE KEY") || len(label) > 64 || strings.Contains(label, "-") {
		return nil
	}
	b := &pemBlock{start: off + i, end: off + len(l), label: label}
	b.text.Write(l[i:])
	return b
}

// add reads the next line of the block: done when it is the END line; not
// ok when it cannot be part of a key.
func (b *pemBlock) add(l []byte) (done, ok bool) {
	t := bytes.TrimSpace(l)
	if b.text.Len()+len(t)+1 > maxPEMBlock {
		return false, false
	}
	switch s := string(t); {
	case strings.HasPrefix(s, "-----END "):
		if !strings.HasPrefix(s[len("-----END "):], b.label+"-----") {
			return false, false
		}
		b.text.WriteString("\n-----END " + b.label + "-----")
		return true, b.body
	case s == "":
		return false, true
	case isBase64(s):
		b.body = true
	case !b.body && isPEMHeader(s):
	default:
		return false, false
	}
	b.text.WriteByte('\n')
	b.text.Write(t)
	return false, true
}

// scanPEM runs the private-key rules on a block put back together; the
// block is whole, so the rules see all of it, however long.
func (e *Engine) scanPEM(block string) (Detection, bool) {
	var found []Detection
	for _, r := range e.rules {
		if r.Kind == "private_key" {
			found = r.matches(block, 0, len(block), nil, found)
		}
	}
	var work int
	found = e.finish(block, dedupe(found, e.order, &work))
	for _, d := range found {
		if d.Start == 0 {
			return d, true
		}
	}
	return Detection{}, false
}
