package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The probe speaks just enough of the frontend/backend protocol (version
// 3.0) to see how a server answers a client that offers no password: an
// SSLRequest, a StartupMessage, and the backend messages up to
// ReadyForQuery. Sessions use pgconn; the probe needs no library, so what
// it reads from an untrusted peer is small, bounded and fuzzed.

// sslRequest asks the server whether it speaks TLS: it answers one byte.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// startupMessage builds a protocol 3.0 StartupMessage.
func startupMessage(params ...string) []byte {
	b := []byte{0, 0, 0, 0, 0, 3, 0, 0}
	for _, p := range params {
		b = append(append(b, p...), 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

// terminate is the Terminate message: a polite goodbye.
var terminate = []byte{'X', 0, 0, 0, 4}

// maxProbeMessage is the largest backend message the probe accepts: real
// servers send tens of bytes before ReadyForQuery (an ErrorResponse with a
// long hint stays under a few KB).
const maxProbeMessage = 16 << 10

// maxProbeMessages bounds the messages before ReadyForQuery (a real server
// sends about 15 ParameterStatus messages).
const maxProbeMessages = 200

// errNotPostgres says the peer's bytes are not the PostgreSQL protocol.
var errNotPostgres = errors.New("not the PostgreSQL protocol")

// message is one backend message.
type message struct {
	typ  byte
	body []byte
}

// readMessage reads one backend message of at most max bytes of body.
func readMessage(r io.Reader, max int) (message, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return message{}, err
	}
	n := int64(binary.BigEndian.Uint32(h[1:]))
	if !backendType(h[0]) || n < 4 {
		return message{}, fmt.Errorf("%w: message type %q, length %d", errNotPostgres, h[0], n)
	}
	if n-4 > int64(max) {
		return message{}, fmt.Errorf("%w: a %q message of %d bytes (at most %d expected)", errNotPostgres, h[0], n, max)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return message{}, err
	}
	return message{h[0], body}, nil
}

// backendType lists the messages a server sends before ReadyForQuery.
func backendType(t byte) bool {
	switch t {
	case 'R', 'S', 'K', 'Z', 'E', 'N', 'v':
		return true
	}
	return false
}

// authCode returns the code of an Authentication message (0: Ok, 3:
// cleartext password, 5: MD5, 10: SASL, …).
func authCode(m message) (int, error) {
	if m.typ != 'R' || len(m.body) < 4 {
		return 0, fmt.Errorf("%w: a short authentication message", errNotPostgres)
	}
	return int(binary.BigEndian.Uint32(m.body)), nil
}

// authName names an authentication request as a user reads it.
func authName(code int, body []byte) string {
	switch code {
	case 2:
		return "Kerberos V5"
	case 3:
		return "a cleartext password"
	case 5:
		return "an MD5 password"
	case 7:
		return "GSSAPI"
	case 9:
		return "SSPI"
	case 10:
		// SASL names its mechanisms, NUL-terminated.
		var mechs []string
		for _, m := range strings.Split(string(body[min(4, len(body)):]), "\x00") {
			if m != "" && len(mechs) < 4 {
				mechs = append(mechs, printable(m, 40))
			}
		}
		return "SASL (" + strings.Join(mechs, ", ") + ")"
	}
	return fmt.Sprintf("authentication method %d", code)
}

// pgError is an ErrorResponse or NoticeResponse: its fields by code.
type pgError struct {
	Severity string
	Code     string // SQLSTATE
	Message  string
}

func (e *pgError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Severity, e.Code, e.Message)
}

// parseError reads the fields of an ErrorResponse body; every field is
// capped, and the body must be well formed.
func parseError(body []byte) (*pgError, error) {
	e := &pgError{}
	for len(body) > 0 {
		t := body[0]
		if t == 0 {
			if len(body) != 1 {
				return nil, fmt.Errorf("%w: bytes after an error's last field", errNotPostgres)
			}
			break
		}
		end := indexByte(body[1:], 0)
		if end < 0 {
			return nil, fmt.Errorf("%w: an error field without its end", errNotPostgres)
		}
		v := string(body[1 : 1+end])
		body = body[2+end:]
		switch t {
		case 'V':
			e.Severity = printable(v, 16)
		case 'S':
			if e.Severity == "" {
				e.Severity = printable(v, 16)
			}
		case 'C':
			e.Code = printable(v, 8)
		case 'M':
			e.Message = printable(v, 512)
		}
		if len(body) == 0 {
			return nil, fmt.Errorf("%w: an error without its terminator", errNotPostgres)
		}
	}
	if len(e.Code) != 5 || e.Severity == "" {
		return nil, fmt.Errorf("%w: an error without SQLSTATE or severity", errNotPostgres)
	}
	return e, nil
}

// parseParameter reads a ParameterStatus body: name and value.
func parseParameter(body []byte) (string, string, error) {
	i := indexByte(body, 0)
	if i < 0 || len(body) < i+2 || body[len(body)-1] != 0 || indexByte(body[i+1:len(body)-1], 0) >= 0 {
		return "", "", fmt.Errorf("%w: a malformed ParameterStatus", errNotPostgres)
	}
	return string(body[:i]), string(body[i+1 : len(body)-1]), nil
}

// isErrorResponse reports whether b starts with a well-formed
// ErrorResponse: what a PostgreSQL server may answer to a stranger's bytes.
func isErrorResponse(b []byte) bool {
	if len(b) < 5 || b[0] != 'E' {
		return false
	}
	n := int(binary.BigEndian.Uint32(b[1:]))
	if n < 4 || n-4 > maxProbeMessage || len(b) < 1+n {
		return false
	}
	_, err := parseError(b[5 : 1+n])
	return err == nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// printable keeps s as text a report can hold: cut to max bytes on a rune
// boundary; control bytes are left to the writers, which escape them.
func printable(s string, max int) string {
	if len(s) <= max {
		return strings.ToValidUTF8(s, "?")
	}
	cut := max
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "?") + "…"
}
