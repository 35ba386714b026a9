package postgres

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
)

// msg builds a backend message.
func msg(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

func authMsg(code uint32, extra ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, code)
	return msg('R', append(b, extra...))
}

func errMsg(severity, code, text string) []byte {
	var b []byte
	for _, f := range []struct {
		t byte
		v string
	}{{'S', severity}, {'V', severity}, {'C', code}, {'M', text}} {
		b = append(append(append(b, f.t), f.v...), 0)
	}
	return msg('E', append(b, 0))
}

func paramMsg(k, v string) []byte { return msg('S', []byte(k+"\x00"+v+"\x00")) }

var readyMsg = msg('Z', []byte{'I'})

func TestStartupMessage(t *testing.T) {
	got := startupMessage("user", "postgres", "database", "postgres")
	want := append([]byte{0, 0, 0, 41, 0, 3, 0, 0}, "user\x00postgres\x00database\x00postgres\x00\x00"...)
	if !bytes.Equal(got, want) {
		t.Errorf("startupMessage = %q, want %q", got, want)
	}
}

func TestReadAnswer(t *testing.T) {
	hba := `no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption`
	for _, tc := range []struct {
		name   string
		in     []byte
		pg, ok bool
		auth   int
		code   string
	}{
		{"trust", bytes.Join([][]byte{authMsg(0), paramMsg("server_version", "15.20"), paramMsg("is_superuser", "on"), msg('K', make([]byte, 8)), readyMsg}, nil), true, true, 0, ""},
		{"scram", authMsg(10, []byte("SCRAM-SHA-256\x00\x00")...), true, false, 10, ""},
		{"md5", authMsg(5, 1, 2, 3, 4), true, false, 5, ""},
		{"cleartext", authMsg(3), true, false, 3, ""},
		{"no hba entry", errMsg("FATAL", "28000", hba), true, false, 0, "28000"},
		{"ok then fatal", append(authMsg(0), errMsg("FATAL", "28000", `role "x" does not exist`)...), true, false, 0, "28000"},
		{"ready before auth", readyMsg, false, false, 0, ""},
		{"http", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), false, false, 0, ""},
		{"huge length", []byte{'R', 0x7f, 0xff, 0xff, 0xff}, false, false, 0, ""},
		{"bad error", msg('E', []byte("Mno terminator")), false, false, 0, ""},
		{"short auth", msg('R', []byte{0}), false, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a attempt
			a.readAnswer(bytes.NewReader(tc.in))
			code := ""
			if a.err != nil {
				code = a.err.Code
			}
			if a.pg != tc.pg || a.ok != tc.ok || a.auth != tc.auth || code != tc.code {
				t.Errorf("readAnswer(%q) = pg %v ok %v auth %d code %q; want pg %v ok %v auth %d code %q", tc.in, a.pg, a.ok, a.auth, code, tc.pg, tc.ok, tc.auth, tc.code)
			}
		})
	}
	var a attempt
	a.readAnswer(bytes.NewReader(bytes.Join([][]byte{authMsg(0), paramMsg("server_version", "15.20 (Debian 15.20-0+deb12u1)"), readyMsg}, nil)))
	if a.params["server_version"] != "15.20 (Debian 15.20-0+deb12u1)" {
		t.Errorf("server_version = %q", a.params["server_version"])
	}
}

func TestAuthName(t *testing.T) {
	if got := authName(10, append([]byte{0, 0, 0, 10}, "SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00"...)); got != "SASL (SCRAM-SHA-256-PLUS, SCRAM-SHA-256)" {
		t.Errorf("authName(10) = %q", got)
	}
	if got := authName(5, nil); got != "an MD5 password" {
		t.Errorf("authName(5) = %q", got)
	}
}

func TestIsErrorResponse(t *testing.T) {
	if !isErrorResponse(errMsg("FATAL", "08P01", "invalid length of startup packet")) {
		t.Error("isErrorResponse(an ErrorResponse) = false")
	}
	for _, b := range [][]byte{nil, []byte("HTTP/1.0 200 OK\r\n"), []byte("E\x00\x00\x00"), msg('E', []byte("x"))} {
		if isErrorResponse(b) {
			t.Errorf("isErrorResponse(%q) = true", b)
		}
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: `"plain"`, `dq"; DROP TABLE customers; --`: `"dq""; DROP TABLE customers; --"`, "esc\x1b]0;x\x07": "\"esc\x1b]0;x\x07\"", "a\x00b": `"ab"`,
	} {
		if got := quoteIdent(in); got != want {
			t.Errorf("quoteIdent(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{`x'; DROP TABLE t; --`: `E'x''; DROP TABLE t; --'`, `a\'b`: `E'a\\''b'`} {
		if got := quoteString(in); got != want {
			t.Errorf("quoteString(%q) = %q, want %q", in, got, want)
		}
	}
	if got := kv(`a'b\c`); got != `'a\'b\\c'` {
		t.Errorf("kv = %q", got)
	}
	tb := datastore.Table{Path: []string{`s"x`}, Name: "t"}
	if got := qualified(tb); got != `"s""x"."t"` {
		t.Errorf("qualified = %q", got)
	}
}

func TestTextLike(t *testing.T) {
	for typ, want := range map[string]bool{"text": true, "character varying(255)": true, "character(10)": true, "jsonb": true, "json": true,
		"text[]": true, "character varying[]": true, "xml": true, "bigint": false, "timestamp without time zone": false, "bytea": false, "integer[]": false} {
		if got := textLike(typ); got != want {
			t.Errorf("textLike(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestJudge(t *testing.T) {
	// A plain role: no attribute, no membership, no grant.
	plain := []string{"false", "false", "false", "false", "false", "false", "false", "false", "false", "", "false", "false", "false", "0", "", "plain", "0", "aiapp"}
	for _, c := range judge(plain) {
		if c.Granted != datastore.No {
			t.Errorf("plain role: %s = %v, want no", c.ID, c.Granted)
		}
	}
	filer := append([]string(nil), plain...)
	filer[5] = "true" // pg_read_server_files
	filer[9] = "public"
	got := map[string]datastore.Verdict{}
	for _, c := range judge(filer) {
		got[c.ID] = c.Granted
	}
	if got["pg_read_server_files"] != datastore.Yes || got["create"] != datastore.Yes || got["superuser"] != datastore.No {
		t.Errorf("judge(filer) = %v", got)
	}
	for _, c := range judge(nil) {
		if c.Granted != datastore.Unknown {
			t.Errorf("judge(nil): %s = %v, want unknown", c.ID, c.Granted)
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := printable(strings.Repeat("é", 10), 5); got != "éé…" {
		t.Errorf("printable = %q", got)
	}
}

func FuzzReadAnswer(f *testing.F) {
	f.Add(bytes.Join([][]byte{authMsg(0), paramMsg("server_version", "15"), readyMsg}, nil))
	f.Add(authMsg(10, []byte("SCRAM-SHA-256\x00\x00")...))
	f.Add(errMsg("FATAL", "28000", "no pg_hba.conf entry"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a attempt
		a.readAnswer(bytes.NewReader(b))
		if a.ok && !a.pg {
			t.Fatal("ok without pg")
		}
		isErrorResponse(b)
		if e, err := parseError(b); err == nil && len(e.Code) != 5 {
			t.Fatalf("parseError accepted code %q", e.Code)
		}
		parseParameter(b)
	})
}
