package classify

import (
	"strings"
)

// Private keys in PEM armour (openssl, PKCS #8) or OpenSSH's own format
// span many lines; a key is fingerprinted in one form wherever it is found.

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
