package mongodb

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// A small BSON codec: an encoder for the few commands leakhound sends, and
// a decoder for what a server answers that never trusts a length it is
// given (every length is checked against the bytes actually held) and
// never recurses past maxDepth.

// maxDepth bounds nesting of documents and arrays: a peer can nest 16 MiB
// of one-byte documents, and a recursive reader must not follow it all.
const maxDepth = 100

var errBSON = errors.New("malformed BSON")

// ---- encoding ----

// doc is a BSON document being built: keys in order.
type doc []elem

type elem struct {
	Key string
	Val any // string, int32, int64, int, float64, bool, doc, arr, nil, rawValue
}

// arr is a BSON array being built.
type arr []any

// rawValue is a value copied as it came from a server (an _id to hand
// back): its type byte and its bytes.
type rawValue struct {
	Type byte
	Data []byte
}

func (d doc) encode() ([]byte, error) { return appendDoc(nil, d, 0) }

func appendDoc(b []byte, d doc, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("document nested deeper than %d", maxDepth)
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	for _, e := range d {
		var err error
		if b, err = appendElem(b, e.Key, e.Val, depth); err != nil {
			return nil, err
		}
	}
	b = append(b, 0)
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

func appendCString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, fmt.Errorf("name %q holds a NUL byte", s)
		}
	}
	return append(append(b, s...), 0), nil
}

func appendElem(b []byte, key string, v any, depth int) ([]byte, error) {
	typ := len(b)
	b = append(b, 0)
	b, err := appendCString(b, key)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		b[typ] = 0x02
		b = binary.LittleEndian.AppendUint32(b, uint32(len(x)+1))
		b = append(append(b, x...), 0)
	case int32:
		b[typ] = 0x10
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	case int:
		b[typ] = 0x12
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	case int64:
		b[typ] = 0x12
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	case float64:
		b[typ] = 0x01
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	case bool:
		b[typ] = 0x08
		if x {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case nil:
		b[typ] = 0x0a
	case doc:
		b[typ] = 0x03
		return appendDoc(b, x, depth+1)
	case arr:
		b[typ] = 0x04
		d := make(doc, len(x))
		for i, v := range x {
			d[i] = elem{strconv.Itoa(i), v}
		}
		return appendDoc(b, d, depth+1)
	case rawValue:
		b[typ] = x.Type
		b = append(b, x.Data...)
	default:
		return nil, fmt.Errorf("cannot encode %T", v)
	}
	return b, nil
}

// ---- decoding ----

// Value is one decoded BSON value. Documents and arrays keep their
// elements in order; other kinds keep what a report needs.
type Value struct {
	Type byte
	Str  string  // string, symbol, JavaScript code, regex pattern, objectid/decimal/binary as text
	Num  float64 // double, int32, int64, datetime (ms), timestamp, bool (1/0)
	Int  int64   // int32, int64, datetime (ms)
	Doc  []Elem  // document, array
	Raw  []byte  // the value's own bytes, to hand back to the server
}

// Elem is one element of a decoded document.
type Elem struct {
	Key string
	Val Value
}

// Document is a decoded BSON document.
type Document []Elem

// Get returns the value under key, and whether it is there.
func (d Document) Get(key string) (Value, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Val, true
		}
	}
	return Value{}, false
}

// Str returns the string under key, or "".
func (d Document) Str(key string) string {
	v, ok := d.Get(key)
	if !ok || v.Type != 0x02 {
		return ""
	}
	return v.Str
}

// Number returns the number under key (double, int32, int64), and
// whether it is one.
func (d Document) Number(key string) (float64, bool) {
	v, ok := d.Get(key)
	if !ok {
		return 0, false
	}
	return v.Number()
}

// Int returns the number under key as an int64, -1 when it is none.
func (d Document) Int(key string) int64 {
	v, ok := d.Get(key)
	if !ok {
		return -1
	}
	switch v.Type {
	case 0x10, 0x12:
		return v.Int
	case 0x01:
		if v.Num >= 0 && v.Num < math.MaxInt64 {
			return int64(v.Num)
		}
	}
	return -1
}

// Sub returns the document (or array) under key, nil if none.
func (d Document) Sub(key string) Document {
	v, ok := d.Get(key)
	if !ok || (v.Type != 0x03 && v.Type != 0x04) {
		return nil
	}
	return v.Doc
}

// Number returns a numeric value as a float64.
func (v Value) Number() (float64, bool) {
	switch v.Type {
	case 0x01, 0x10, 0x12:
		return v.Num, true
	case 0x08:
		return v.Num, true
	}
	return 0, false
}

// ok reports whether a command's answer says ok: 1.
func (d Document) ok() bool {
	n, isNum := d.Number("ok")
	return isNum && n == 1
}

// decodeDocument decodes b, which must hold exactly one document.
func decodeDocument(b []byte) (Document, error) {
	d, n, err := readDoc(b, 0)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%d bytes after the document: %w", len(b)-n, errBSON)
	}
	return d, nil
}

// docLen reads the length prefix of a document at the start of b,
// checked against what b holds.
func docLen(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, fmt.Errorf("a document of %d bytes: %w", len(b), errBSON)
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) {
		return 0, fmt.Errorf("a document claiming %d bytes of %d: %w", n, len(b), errBSON)
	}
	if b[n-1] != 0 {
		return 0, fmt.Errorf("a document not ending in NUL: %w", errBSON)
	}
	return n, nil
}

func readDoc(b []byte, depth int) (Document, int, error) {
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("documents nested deeper than %d: %w", maxDepth, errBSON)
	}
	n, err := docLen(b)
	if err != nil {
		return nil, 0, err
	}
	body := b[4 : n-1]
	var d Document
	for len(body) > 0 {
		typ := body[0]
		body = body[1:]
		end := indexNUL(body)
		if end < 0 {
			return nil, 0, fmt.Errorf("a name without its NUL: %w", errBSON)
		}
		key := string(body[:end])
		body = body[end+1:]
		v, used, err := readValue(typ, body, depth)
		if err != nil {
			return nil, 0, fmt.Errorf("%.64q: %w", key, err)
		}
		d = append(d, Elem{key, v})
		body = body[used:]
	}
	return d, n, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// readString reads an int32-prefixed, NUL-terminated string.
func readString(b []byte) (string, int, error) {
	if len(b) < 4 {
		return "", 0, errBSON
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 1 || n > len(b)-4 || b[4+n-1] != 0 {
		return "", 0, fmt.Errorf("a string claiming %d bytes of %d: %w", n, len(b)-4, errBSON)
	}
	s := string(b[4 : 4+n-1])
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD, as a report shows them
	}
	return s, 4 + n, nil
}

func need(b []byte, n int) error {
	if len(b) < n {
		return fmt.Errorf("a value of %d bytes where %d are left: %w", n, len(b), errBSON)
	}
	return nil
}

func readValue(typ byte, b []byte, depth int) (Value, int, error) {
	v := Value{Type: typ}
	used := 0
	switch typ {
	case 0x01: // double
		if err := need(b, 8); err != nil {
			return v, 0, err
		}
		v.Num = math.Float64frombits(binary.LittleEndian.Uint64(b))
		used = 8
	case 0x02, 0x0d, 0x0e: // string, JavaScript code, symbol
		s, n, err := readString(b)
		if err != nil {
			return v, 0, err
		}
		v.Str, used = s, n
	case 0x03, 0x04: // document, array
		d, n, err := readDoc(b, depth+1)
		if err != nil {
			return v, 0, err
		}
		v.Doc, used = d, n
	case 0x05: // binary
		if err := need(b, 5); err != nil {
			return v, 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(b)))
		if n < 0 || n > len(b)-5 {
			return v, 0, fmt.Errorf("binary claiming %d bytes: %w", n, errBSON)
		}
		used = 5 + n
		if b[4] == 0x04 && n == 16 { // UUID
			v.Str = hex.EncodeToString(b[5:used])
		}
	case 0x06, 0x0a, 0x7f, 0xff: // undefined, null, maxkey, minkey
	case 0x07: // objectid
		if err := need(b, 12); err != nil {
			return v, 0, err
		}
		v.Str, used = hex.EncodeToString(b[:12]), 12
	case 0x08: // bool
		if err := need(b, 1); err != nil {
			return v, 0, err
		}
		if b[0] != 0 {
			v.Num = 1
		}
		used = 1
	case 0x09: // datetime
		if err := need(b, 8); err != nil {
			return v, 0, err
		}
		v.Int = int64(binary.LittleEndian.Uint64(b))
		v.Num, used = float64(v.Int), 8
	case 0x0b: // regex: two cstrings
		i := indexNUL(b)
		if i < 0 {
			return v, 0, errBSON
		}
		j := indexNUL(b[i+1:])
		if j < 0 {
			return v, 0, errBSON
		}
		v.Str, used = string(b[:i]), i+1+j+1
	case 0x0c: // DBPointer: string + 12 bytes
		_, n, err := readString(b)
		if err != nil {
			return v, 0, err
		}
		if err := need(b, n+12); err != nil {
			return v, 0, err
		}
		used = n + 12
	case 0x0f: // code with scope: int32 total, string, document
		if err := need(b, 4); err != nil {
			return v, 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(b)))
		if n < 14 || n > len(b) {
			return v, 0, fmt.Errorf("code with scope claiming %d bytes: %w", n, errBSON)
		}
		s, sn, err := readString(b[4:n])
		if err != nil {
			return v, 0, err
		}
		if _, _, err := readDoc(b[4+sn:n], depth+1); err != nil {
			return v, 0, err
		}
		v.Str, used = s, n
	case 0x10: // int32
		if err := need(b, 4); err != nil {
			return v, 0, err
		}
		v.Int = int64(int32(binary.LittleEndian.Uint32(b)))
		v.Num, used = float64(v.Int), 4
	case 0x11: // timestamp
		if err := need(b, 8); err != nil {
			return v, 0, err
		}
		v.Int, used = int64(binary.LittleEndian.Uint64(b)>>32), 8
	case 0x12: // int64
		if err := need(b, 8); err != nil {
			return v, 0, err
		}
		v.Int = int64(binary.LittleEndian.Uint64(b))
		v.Num, used = float64(v.Int), 8
	case 0x13: // decimal128
		if err := need(b, 16); err != nil {
			return v, 0, err
		}
		used = 16
	default:
		return v, 0, fmt.Errorf("unknown type 0x%02x: %w", typ, errBSON)
	}
	v.Raw = b[:used:used]
	return v, used, nil
}

// Text is a leaf value as a report reads it: strings as they are, numbers
// in decimal, times in RFC 3339; ok is false for values with no text
// worth classifying (null, binary, keys).
func (v Value) Text() (string, bool) {
	switch v.Type {
	case 0x02, 0x0d, 0x0e:
		return v.Str, true
	case 0x01:
		return strconv.FormatFloat(v.Num, 'f', -1, 64), true
	case 0x10, 0x12:
		return strconv.FormatInt(v.Int, 10), true
	case 0x09:
		return time.UnixMilli(v.Int).UTC().Format(time.RFC3339), true
	case 0x08:
		return strconv.FormatBool(v.Num != 0), true
	case 0x07:
		return v.Str, true
	}
	return "", false
}
