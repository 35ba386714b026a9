package clickhouse

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every decoder that reads bytes a peer chose. None may
// panic, and what they return must be consistent with what they read.

func newWireReader(b []byte) *wireReader {
	return &wireReader{r: bufio.NewReader(bytes.NewReader(b))}
}

// column is one column of a block seed.
type column struct {
	name, typ string
	data      []byte
}

func blockSeed(rows uint64, cols ...column) []byte {
	w := blockHeader(uint64(len(cols)), rows)
	for _, c := range cols {
		w.str(c.name)
		w.str(c.typ)
		w.b = append(w.b, c.data...)
	}
	return w.b[1:] // readBlock starts after the packet type
}

func strs(ss ...string) []byte {
	var w wireWriter
	for _, s := range ss {
		w.str(s)
	}
	return w.b
}

var (
	mixedBlock = blockSeed(2,
		column{"n", "UInt64", []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}},
		column{"i", "Int8", []byte{0xff, 1}},
		column{"f", "FixedString(3)", []byte("ab\x00xyz")},
		column{"z", "Nullable(String)", append([]byte{1, 0}, strs("", "x")...)},
	)
	numericBlock = blockSeed(1,
		column{"d", "DateTime", []byte{0, 0, 0, 0}},
		column{"u16", "UInt16", []byte{1, 2}},
		column{"i16", "Int16", []byte{0xfe, 0xff}},
		column{"u32", "UInt32", []byte{1, 2, 3, 4}},
		column{"i32", "Int32", []byte{0xff, 0xff, 0xff, 0xff}},
		column{"i64", "Int64", []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		column{"f32", "Float32", []byte{0, 0, 0x80, 0x3f}},
		column{"f64", "Float64", []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f}},
		column{"u8", "Nullable(UInt8)", []byte{0, 7}},
	)
)

func TestReadBlock(t *testing.T) {
	for _, tc := range []struct {
		in    []byte
		types []string
		cols  [][]string
	}{
		{blockSeed(0), nil, nil},
		{
			mixedBlock,
			[]string{"UInt64", "Int8", "FixedString(3)", "Nullable(String)"},
			[][]string{{"1", "2"}, {"-1", "1"}, {"ab", "xyz"}, {`\N`, "x"}},
		},
		{
			numericBlock,
			[]string{"DateTime", "UInt16", "Int16", "UInt32", "Int32", "Int64", "Float32", "Float64", "Nullable(UInt8)"},
			[][]string{{"0"}, {"513"}, {"-2"}, {"67305985"}, {"-1"}, {"578437695752307201"}, {"1"}, {"1.5"}, {"7"}},
		},
	} {
		b, err := readBlock(newWireReader(tc.in))
		if err != nil {
			t.Errorf("readBlock(%q) = %v, want %q", tc.in, err, tc.cols)
			continue
		}
		if cols := columns(b); !slices.Equal(b.types, tc.types) || !slices.EqualFunc(cols, tc.cols, slices.Equal) {
			t.Errorf("readBlock(%q) = types %q values %q, want %q %q", tc.in, b.types, cols, tc.types, tc.cols)
		}
	}
}

// columns returns b's values column by column.
func columns(b *block) [][]string {
	var out [][]string
	for c := range b.names {
		out = append(out, b.column(c))
	}
	return out
}

func FuzzReadBlock(f *testing.F) {
	f.Add([]byte{})
	f.Add(blockSeed(0))
	f.Add(blockSeed(2, column{"s", "String", strs("a", "bc")}))
	f.Add(mixedBlock)
	f.Add(numericBlock)
	f.Add(blockSeed(1, column{"a", "Array(String)", nil}))
	f.Add(blockSeed(1, column{"s", "String", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}}))
	f.Add(blockSeed(3, column{"s", "String", strs("cut")}))
	f.Add(blockSeed(4, column{"n", "Nullable(String)", append([]byte{0, 1, 0, 1}, strs("a", "", "b", "")...)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newWireReader(in)
		r.mem = newMemBudget("fuzz", 1<<20)
		b, err := readBlock(r)
		if r.n > int64(len(in)) {
			t.Fatalf("readBlock(%q) consumed %d bytes of %d", in, r.n, len(in))
		}
		if err != nil {
			if b != nil {
				t.Fatalf("readBlock(%q) = %+v, %v, want no block with an error", in, b, err)
			}
			return
		}
		if len(b.names) != len(b.types) {
			t.Fatalf("readBlock(%q) = %d names, %d types, want equal counts", in, len(b.names), len(b.types))
		}
		if b.rows < 0 || b.rows > maxBlockRows || len(b.names) > maxColumns {
			t.Fatalf("readBlock(%q) = %d columns × %d rows, want within the caps", in, len(b.names), b.rows)
		}
		if len(b.cells) != b.rows*len(b.names) {
			t.Fatalf("readBlock(%q) = %d values for %d columns × %d rows", in, len(b.cells), len(b.names), b.rows)
		}
		// What the block holds, its rows once they are taken included, was
		// charged to the budget before it was allocated, and the budget
		// was never overdrawn.
		cost := int64(b.rows) * sliceHeader
		for c := range b.names {
			cost += int64(len(b.names[c]) + len(b.types[c]))
		}
		for _, v := range b.cells {
			cost += cellCost(v)
		}
		if cost > r.mem.held || r.mem.held > r.mem.limit {
			t.Fatalf("readBlock(%q) holds %d bytes, charged %d of a budget of %d", in, cost, r.mem.held, r.mem.limit)
		}
	})
}

func FuzzReadHelloAndException(f *testing.F) {
	f.Add([]byte{})
	f.Add(helloPacket()[1:])
	f.Add(exceptionPacket(194, "DB::Exception", "Password required for user default")[1:])
	var old wireWriter // a server before revision 54058 sends no timezone
	old.str("ClickHouse")
	old.uvarint(1)
	old.uvarint(1)
	old.uvarint(54000)
	f.Add(old.b)
	nested := exceptionPacket(516, "DB::Exception", "outer")[1:]
	nested[len(nested)-1] = 1
	f.Add(append(nested, exceptionPacket(1, "inner", "inner")[1:]...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newWireReader(in)
		info, err := readHello(r)
		if r.n > int64(len(in)) {
			t.Fatalf("readHello(%q) consumed %d bytes of %d", in, r.n, len(in))
		}
		if err == nil && (len(info.Name) > maxWireString || len(info.Timezone) > maxWireString || len(info.DisplayName) > maxWireString) {
			t.Fatalf("readHello(%q) = strings over the cap", in)
		}
		if v, ok := info.version(); ok && (len(v) > 20 || !versionRe.MatchString(v)) {
			t.Fatalf("readHello(%q) = version %q, accepted", in, v)
		}

		r = newWireReader(in)
		e, err := readException(r)
		if r.n > int64(len(in)) {
			t.Fatalf("readException(%q) consumed %d bytes of %d", in, r.n, len(in))
		}
		if (e == nil) == (err == nil) {
			t.Fatalf("readException(%q) = %v, %v, want an exception or an error", in, e, err)
		}
		if e != nil {
			_ = e.Error()
		}
	})
}

// escapeTSV escapes a field the way ClickHouse's TabSeparated output does
// for the bytes that matter to the framing.
func escapeTSV(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`).Replace(s)
}

// tsvBody renders rows as TabSeparated output.
func tsvBody(rows [][]string) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		for i, f := range r {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(escapeTSV(f))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// looksLikeException reports whether a body's last line is taken for an
// exception appended after the 200 header. A value of that form in the last
// row is indistinguishable from one on the wire.
func looksLikeException(body []byte) bool {
	last := bytes.TrimSuffix(body, []byte{'\n'})
	if i := bytes.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	return bytes.HasPrefix(last, []byte("Code: ")) && exceptionRe.Match(last)
}

func FuzzParseTSV(f *testing.F) {
	f.Add([]byte("a\tb\nc\td\n"), 3)
	f.Add([]byte(`x\ty\\z\N`+"\t\\0\n"), 5)
	f.Add([]byte("no newline"), 4)
	f.Add([]byte("1\n2\nCode: 241. DB::Exception: Memory limit exceeded (version 23.8.1.1)\n"), 7)
	f.Add([]byte("\x1f\x1e\x1e"), 0) // an empty field, and empty rows
	f.Add([]byte("tab\tnewline\nback\\slash\x1fsecond\x1enext row"), 12)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		// Any bytes: no panic, and a truncated body never yields more.
		full, errFull := parseTSV(in, false)
		part, errPart := parseTSV(in, true)
		if errFull == nil && full.bytes != int64(len(in)) {
			t.Fatalf("parseTSV(%q) = %d bytes, want %d", in, full.bytes, len(in))
		}
		if errPart == nil && errFull == nil && len(part.rows) > len(full.rows) {
			t.Fatalf("parseTSV(%q, truncated) = %d rows, more than the %d of the whole", in, len(part.rows), len(full.rows))
		}
		// What the rows hold was charged to the memory budget.
		if errFull == nil && full.held < rowsCost(full.rows) {
			t.Fatalf("parseTSV(%q) = rows holding %d bytes, charged %d", in, rowsCost(full.rows), full.held)
		}

		// The input as rows (split at 0x1E) of fields (split at 0x1F),
		// escaped and framed, parses back to the same fields.
		var rows [][]string
		for _, line := range strings.Split(string(in), "\x1e") {
			rows = append(rows, strings.Split(line, "\x1f"))
		}
		body := tsvBody(rows)
		if looksLikeException(body) {
			return
		}
		res, err := parseTSV(body, false)
		if err != nil {
			t.Fatalf("parseTSV(%q) = %v, want %q", body, err, rows)
		}
		if !slices.EqualFunc(res.rows, rows, slices.Equal) {
			t.Fatalf("parseTSV(%q) = %q, want %q", body, res.rows, rows)
		}

		// Cut anywhere, the body yields its whole lines and nothing else.
		if len(body) == 0 {
			return
		}
		cut = min(max(cut, -cut, 0), len(body)-1)
		cutBody := body[:cut]
		if looksLikeException(cutBody[:bytes.LastIndexByte(cutBody, '\n')+1]) {
			return
		}
		res, err = parseTSV(cutBody, true)
		if err != nil {
			t.Fatalf("parseTSV(%q, truncated) = %v, want %q", cutBody, err, rows)
		}
		whole := bytes.Count(cutBody, []byte{'\n'})
		if !res.truncated || !slices.EqualFunc(res.rows, rows[:whole], slices.Equal) {
			t.Fatalf("parseTSV(%q, truncated) = %q (truncated %v), want %q", cutBody, res.rows, res.truncated, rows[:whole])
		}
	})
}

func FuzzParseHTTPException(f *testing.F) {
	f.Add([]byte("Code: 194, e.displayText() = DB::Exception: Password required for user default, e.what() = DB::Exception\n"), "")
	f.Add([]byte("Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED) (version 23.8.1.1 (official build))\n"), "516")
	f.Add([]byte("Ok.\n"), "")
	f.Add([]byte("\xff\x00\x1b[31m"), "60")
	f.Add([]byte(strings.Repeat("é", 400)), "-1")
	f.Fuzz(func(t *testing.T, body []byte, code string) {
		resp := &httpResponse{status: http.StatusInternalServerError, header: http.Header{}, body: body}
		if code != "" {
			resp.header.Set("X-ClickHouse-Exception-Code", code)
		}
		e := parseHTTPException(resp)
		if e == nil {
			return
		}
		if len(e.Message) > 300 || !utf8.ValidString(e.Message) {
			t.Fatalf("parseHTTPException(%q) message = %q, want at most 300 bytes of valid UTF-8", body, e.Message)
		}
		for _, r := range e.Message {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("parseHTTPException(%q) message = %q, holds control character %U", body, e.Message, r)
			}
		}
	})
}

func TestParseHTTPException(t *testing.T) {
	for _, tc := range []struct {
		body, header string
		want         *ServerError
	}{
		{
			body: "Code: 194, e.displayText() = DB::Exception: Password required for user default, e.what() = DB::Exception\n",
			want: &ServerError{Code: 194, Message: "Password required for user default"},
		},
		{
			body: "Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED) (version 23.8.1.1 (official build))\n",
			want: &ServerError{Code: 516, Message: "default: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)"},
		},
		{body: "Forbidden\n", header: "497", want: &ServerError{Code: 497, Message: "Forbidden"}},
		{body: "Forbidden\n", header: "x"},
		{body: "<html>502 Bad Gateway</html>"},
		{body: "Ok.\n"},
	} {
		resp := &httpResponse{status: http.StatusForbidden, header: http.Header{}, body: []byte(tc.body)}
		if tc.header != "" {
			resp.header.Set("X-ClickHouse-Exception-Code", tc.header)
		}
		got := parseHTTPException(resp)
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("parseHTTPException(%q, code header %q) = %+v, want %+v", tc.body, tc.header, got, tc.want)
		}
	}
}

func TestParseTSVException(t *testing.T) {
	body := []byte("1\n2\nCode: 241. DB::Exception: Memory limit (total) exceeded (version 23.8.1.1)\n")
	res, err := parseTSV(body, false)
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 241 || !strings.HasPrefix(se.Message, "Memory limit (total) exceeded") {
		t.Errorf("parseTSV(%q) = %+v, %v, want ClickHouse error 241", body, res, err)
	}
}

func TestUnescapeTSV(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{`a\tb`, "a\tb"},
		{`line\nnext`, "line\nnext"},
		{`\r\0\b\f`, "\r\x00\b\f"},
		{`back\\slash`, `back\slash`},
		{`\\t`, `\t`},
		{`\N`, `\N`},
		{`\\N`, `\N`},
		{`it\'s`, "it's"},
		{`\x`, "x"},
		{`trailing\`, `trailing\`},
		{`\\\`, `\\`},
		{"é\\tü", "é\tü"},
	} {
		if got := unescapeTSV([]byte(tc.in)); got != tc.want {
			t.Errorf("unescapeTSV(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"events", "`events`"},
		{"", "``"},
		{"a`b", "`a\\`b`"},
		{`a\b`, "`a\\\\b`"},
		{"a\\`; DROP TABLE x; --", "`a\\\\\\`; DROP TABLE x; --`"},
		{"it's", "`it's`"},
		{"with space.dot", "`with space.dot`"},
	} {
		if got := quoteIdent(tc.in); got != tc.want {
			t.Errorf("quoteIdent(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestQuoteString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"password", "'password'"},
		{"", "''"},
		{"it's", `'it\'s'`},
		{`a\b`, `'a\\b'`},
		{`\'`, `'\\\''`},
		{"' OR 1=1 --", `'\' OR 1=1 --'`},
		{"back`quote", "'back`quote'"},
		{"line\nbreak", "'line\nbreak'"},
	} {
		if got := quoteString(tc.in); got != tc.want {
			t.Errorf("quoteString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// unquote reads back a literal quoted with q, the way ClickHouse's lexer
// does: a backslash takes the next byte as it is, and the literal ends at the
// first unescaped q. It reports whether the whole of s was one literal.
func unquote(s string, q byte) (string, bool) {
	if len(s) < 2 || s[0] != q {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case q:
			return b.String(), i == len(s)-1
		default:
			b.WriteByte(s[i])
		}
	}
	return "", false
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "it's", "a`b", `\`, `\'`, "\\`", "x\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := unquote(quoteString(s), '\''); !ok || got != s {
			t.Errorf("quoteString(%q) = %s, reads back as %q (whole literal %v)", s, quoteString(s), got, ok)
		}
		if got, ok := unquote(quoteIdent(s), '`'); !ok || got != s {
			t.Errorf("quoteIdent(%q) = %s, reads back as %q (whole identifier %v)", s, quoteIdent(s), got, ok)
		}
	})
}

func TestNonCapturing(t *testing.T) {
	tests := []struct{ in, want string }{
		{`(a|b)c`, `(?:a|b)c`},
		{`(?:a)(b)`, `(?:a)(?:b)`},
		{`\(x\)(y)`, `\(x\)(?:y)`},
		{`[(](z)[^)(]`, `[(](?:z)[^)(]`},
		{`[]()](q)`, `[]()](?:q)`},
		{`(?i:k)(v)`, `(?i:k)(?:v)`},
	}
	for _, tt := range tests {
		if got := nonCapturing(tt.in); got != tt.want {
			t.Errorf("nonCapturing(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNonCapturing(f *testing.F) {
	f.Add(`(^|[^0-9])(\+?86[ -]?)?1[3-9][0-9]{9}([^0-9]|$)`)
	f.Fuzz(func(t *testing.T, p string) {
		re, err := regexp.Compile(p)
		if err != nil {
			return
		}
		nc, err := regexp.Compile(nonCapturing(p))
		if err != nil {
			t.Fatalf("nonCapturing(%q) = %q does not compile: %v", p, nonCapturing(p), err)
		}
		if nc.NumSubexp() != 0 {
			t.Fatalf("nonCapturing(%q) = %q keeps %d groups", p, nonCapturing(p), nc.NumSubexp())
		}
		for _, s := range []string{"", "abc", "13812345678", "(x)"} {
			if re.MatchString(s) != nc.MatchString(s) {
				t.Fatalf("nonCapturing(%q) changes what matches %q", p, s)
			}
		}
	})
}
