package clickhouse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Protocol revisions that change what the native protocol carries. We
// announce clientRevision; the server answers with its own and both sides
// then speak min(client, server).
const (
	revClientInfo       = 54032
	revServerTimezone   = 54058
	revQuotaKey         = 54060
	revServerDisplay    = 54372
	revVersionPatch     = 54401
	revClientWriteInfo  = 54420
	revSettingsAsString = 54429
	clientRevision      = revSettingsAsString
)

// Packet types.
const (
	clientHello = 0
	clientQuery = 1
	clientData  = 2

	serverHello        = 0
	serverData         = 1
	serverException    = 2
	serverProgress     = 3
	serverPong         = 4
	serverEndOfStream  = 5
	serverProfileInfo  = 6
	serverTotals       = 7
	serverExtremes     = 8
	serverTablesStatus = 9
	serverLog          = 10
	serverTableColumns = 11
	// Sent only to clients of revision 54451 and later, which we are not;
	// a peer sending it anyway is read past like a Log block.
	serverProfileEvents = 14
)

// Caps on what a peer can make us allocate. A real server's strings (names,
// versions, messages) are far below these; a hostile one gets an error.
const (
	maxWireString = 1 << 20
	maxColumns    = 4096
	maxBlockRows  = 1 << 20
	maxBlockCells = 1 << 21 // far above what our queries return in one block
)

var (
	errWireTooLarge = errors.New("peer sent an oversized field")
	errReadBudget   = errors.New("read budget exhausted")
)

// maxNestedExceptions bounds an exception's chain of causes; a real server
// nests a handful.
const maxNestedExceptions = 64

// wireReader decodes the native protocol from a buffered stream; every
// length it reads is checked against a cap before anything is allocated,
// and no read goes past limit, so what a peer can make us allocate is
// bounded by the bytes we agreed to read.
type wireReader struct {
	r     *bufio.Reader
	n     int64 // bytes consumed, for the read-back accounting
	limit int64 // n may not pass it; 0: no limit
	// mem, when set, is charged for every string and column before it is
	// allocated: bytes read bound what is sent, not what it costs to hold.
	mem *memBudget
}

func (w *wireReader) charge(n int64) error {
	if w.mem == nil {
		return nil
	}
	return w.mem.charge(n)
}

func (w *wireReader) over(k int64) bool { return w.limit > 0 && w.n+k > w.limit }

func (w *wireReader) ReadByte() (byte, error) {
	if w.over(1) {
		return 0, errReadBudget
	}
	b, err := w.r.ReadByte()
	if err == nil {
		w.n++
	}
	return b, err
}

func (w *wireReader) uvarint() (uint64, error) { return binary.ReadUvarint(w) }

func (w *wireReader) full(p []byte) error {
	if w.over(int64(len(p))) {
		return errReadBudget
	}
	n, err := io.ReadFull(w.r, p)
	w.n += int64(n)
	return err
}

func (w *wireReader) str() (string, error) {
	n, err := w.uvarint()
	if err != nil {
		return "", err
	}
	if n > maxWireString {
		return "", fmt.Errorf("string of %d bytes: %w", n, errWireTooLarge)
	}
	if w.over(int64(n)) {
		return "", errReadBudget
	}
	if err := w.charge(int64(n)); err != nil {
		return "", err
	}
	b := make([]byte, n)
	if err := w.full(b); err != nil {
		return "", err
	}
	return unsafeString(b), nil
}

// skipStr reads a string and keeps none of it.
func (w *wireReader) skipStr() error {
	n, err := w.uvarint()
	if err != nil {
		return err
	}
	if n > maxWireString {
		return fmt.Errorf("string of %d bytes: %w", n, errWireTooLarge)
	}
	if w.over(int64(n)) {
		return errReadBudget
	}
	k, err := w.r.Discard(int(n))
	w.n += int64(k)
	return err
}

func (w *wireReader) fixed(n int) ([]byte, error) {
	if w.over(int64(n)) {
		return nil, errReadBudget
	}
	if err := w.charge(int64(n)); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	return b, w.full(b)
}

// wireWriter encodes the native protocol into a buffer.
type wireWriter struct{ b []byte }

func (w *wireWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *wireWriter) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *wireWriter) u8(v uint8)       { w.b = append(w.b, v) }
func (w *wireWriter) i32(v int32)      { w.b = binary.LittleEndian.AppendUint32(w.b, uint32(v)) }

// serverInfo is what a ClickHouse server says in its Hello.
type serverInfo struct {
	Name        string
	Major       uint64
	Minor       uint64
	Patch       uint64
	Revision    uint64
	Timezone    string
	DisplayName string
}

// version returns the server's version as clickhouse-client prints it, and
// whether it is one a ClickHouse release could have: the numbers of a
// Hello are the peer's to choose, up to 2^64-1 each.
func (s serverInfo) version() (string, bool) {
	third := s.Patch
	if third == 0 {
		// Before revision 54401 the patch level is not sent; the revision
		// stands in for it, as clickhouse-client prints it.
		third = s.Revision
	}
	v := fmt.Sprintf("%d.%d.%d", s.Major, s.Minor, third)
	return v, versionRe.MatchString(v)
}

// ServerError is an exception a ClickHouse server sent.
type ServerError struct {
	Code    int
	Name    string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("ClickHouse error %d: %s", e.Code, e.Message)
}

func encodeHello(user, password string) []byte {
	var w wireWriter
	w.uvarint(clientHello)
	w.str(clientName)
	w.uvarint(clientMajor)
	w.uvarint(clientMinor)
	w.uvarint(clientRevision)
	w.str("") // database: the user's default
	w.str(user)
	w.str(password)
	return w.b
}

func readHello(r *wireReader) (serverInfo, error) {
	var s serverInfo
	var err error
	if s.Name, err = r.str(); err != nil {
		return s, err
	}
	if s.Major, err = r.uvarint(); err != nil {
		return s, err
	}
	if s.Minor, err = r.uvarint(); err != nil {
		return s, err
	}
	if s.Revision, err = r.uvarint(); err != nil {
		return s, err
	}
	rev := min(s.Revision, clientRevision)
	if rev >= revServerTimezone {
		if s.Timezone, err = r.str(); err != nil {
			return s, err
		}
	}
	if rev >= revServerDisplay {
		if s.DisplayName, err = r.str(); err != nil {
			return s, err
		}
	}
	if rev >= revVersionPatch {
		if s.Patch, err = r.uvarint(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// readException reads an exception and its chain of causes, keeping the
// outermost, which says what happened. The chain is read in a loop, not by
// recursion, and its depth is capped.
func readException(r *wireReader) (*ServerError, error) {
	var first *ServerError
	for depth := 0; ; depth++ {
		if depth == maxNestedExceptions {
			return nil, fmt.Errorf("exception nested over %d levels: %w", maxNestedExceptions, errWireTooLarge)
		}
		code, err := r.fixed(4)
		if err != nil {
			return nil, err
		}
		e := &ServerError{Code: int(int32(binary.LittleEndian.Uint32(code)))}
		if e.Name, err = r.str(); err != nil {
			return nil, err
		}
		if e.Message, err = r.str(); err != nil {
			return nil, err
		}
		if err = r.skipStr(); err != nil { // stack trace: never shown
			return nil, err
		}
		nested, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = e
		}
		if nested == 0 {
			return first, nil
		}
	}
}

// setting is one query-level setting. Before revision 54429 settings travel
// typed; every setting we send is an unsigned integer or an enum string.
type setting struct {
	name  string
	value string
}

func encodeQuery(rev uint64, queryID, query string, settings []setting) []byte {
	var w wireWriter
	w.uvarint(clientQuery)
	w.str(queryID)
	if rev >= revClientInfo {
		w.u8(1) // initial query
		w.str("")
		w.str("")
		w.str("[::ffff:127.0.0.1]:0")
		w.u8(1) // TCP interface
		w.str("")
		w.str("")
		w.str(clientName)
		w.uvarint(clientMajor)
		w.uvarint(clientMinor)
		w.uvarint(clientRevision)
		if rev >= revQuotaKey {
			w.str("")
		}
		if rev >= revVersionPatch {
			w.uvarint(clientPatch)
		}
	}
	for _, s := range settings {
		w.str(s.name)
		if rev >= revSettingsAsString {
			w.uvarint(0) // flags: not important, so an unknown setting is an error, not ignored
			w.str(s.value)
			continue
		}
		if n, err := strconv.ParseUint(s.value, 10, 64); err == nil {
			w.uvarint(n)
		} else {
			w.str(s.value)
		}
	}
	w.str("")            // end of settings
	w.uvarint(2)         // stage: complete
	w.uvarint(0)         // no compression
	w.str(query)         //
	encodeEmptyBlock(&w) // no external tables
	return w.b
}

func encodeEmptyBlock(w *wireWriter) {
	w.uvarint(clientData)
	w.str("")
	w.uvarint(1)
	w.u8(0)
	w.uvarint(2)
	w.i32(-1)
	w.uvarint(0)
	w.uvarint(0) // columns
	w.uvarint(0) // rows
}

// block is one decoded data block, every value rendered as text the way
// ClickHouse's TabSeparated output would show it, unescaped. Its values are
// stored row by row in one array, so that its rows are views of it rather
// than copies: a cell costs one string header, not one in a column and
// another in a row.
type block struct {
	names []string
	types []string
	cells []string // cells[row*len(names)+column]
	rows  int
}

// row returns row i of b; it shares b's cells.
func (b *block) row(i int) []string {
	nc := len(b.names)
	return b.cells[i*nc : (i+1)*nc : (i+1)*nc]
}

// column returns a copy of column c of b.
func (b *block) column(c int) []string {
	out := make([]string, b.rows)
	for i := range out {
		out[i] = b.cells[i*len(b.names)+c]
	}
	return out
}

func readBlock(r *wireReader) (*block, error) {
	if _, err := r.str(); err != nil { // temporary table name
		return nil, err
	}
	// Block info: field numbers followed by their values, 0 ends it.
	for {
		f, err := r.uvarint()
		if err != nil {
			return nil, err
		}
		switch f {
		case 0:
			goto info
		case 1:
			if _, err := r.ReadByte(); err != nil {
				return nil, err
			}
		case 2:
			if _, err := r.fixed(4); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown block info field %d", f)
		}
	}
info:
	nc, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	nr, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if nc > maxColumns || nr > maxBlockRows {
		return nil, fmt.Errorf("block of %d columns × %d rows: %w", nc, nr, errWireTooLarge)
	}
	if nc*nr > maxBlockCells {
		// Each cell costs a string header whatever its bytes on the wire:
		// a block of a million one-byte cells is cut, not materialised.
		return nil, errReadBudget
	}
	if nc == 0 {
		nr = 0 // rows without columns carry nothing
	}
	// The least the block costs held: a string header a cell, and a slice
	// header a row once its rows are taken, even if every value is empty.
	// Refused or charged before any of it is allocated.
	if err := r.charge(int64(nc*nr)*stringHeader + int64(nr)*sliceHeader); err != nil {
		return nil, err
	}
	b := &block{rows: int(nr), cells: make([]string, nc*nr)}
	for c := range int(nc) {
		name, err := r.str()
		if err != nil {
			return nil, err
		}
		typ, err := r.str()
		if err != nil {
			return nil, err
		}
		if err := readColumn(r, typ, columnCells{b.cells, c, int(nc), int(nr)}); err != nil {
			return nil, fmt.Errorf("column %q of type %s: %w", name, typ, err)
		}
		b.names = append(b.names, name)
		b.types = append(b.types, typ)
	}
	return b, nil
}

// columnCells is where the values of one column of a block go: value i at
// cells[i*stride+offset].
type columnCells struct {
	cells          []string
	offset, stride int
	n              int
}

func (c columnCells) set(i int, v string) { c.cells[i*c.stride+c.offset] = v }

// readColumn decodes the values of one column. It knows the types our own
// queries return (we cast to String where a type is exotic) and fails
// clearly on the rest. The cells' headers are charged with the block; the
// bytes of each value are charged as it is read.
func readColumn(r *wireReader, typ string, col columnCells) error {
	switch {
	case typ == "String":
		for i := range col.n {
			s, err := r.str()
			if err != nil {
				return err
			}
			col.set(i, s)
		}
		return nil
	case strings.HasPrefix(typ, "FixedString("):
		w, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(typ, "FixedString("), ")"))
		if err != nil || w <= 0 || w > maxWireString {
			return fmt.Errorf("bad type %q", typ)
		}
		for i := range col.n {
			b, err := r.fixed(w)
			if err != nil {
				return err
			}
			col.set(i, strings.TrimRight(unsafeString(b), "\x00"))
		}
		return nil
	case strings.HasPrefix(typ, "Nullable("):
		inner := strings.TrimSuffix(strings.TrimPrefix(typ, "Nullable("), ")")
		if strings.HasPrefix(inner, "Nullable(") {
			return fmt.Errorf("bad type %q", printable([]byte(typ), 100)) // no server nests them; a peer could a million deep
		}
		nulls, err := r.fixed(col.n)
		if err != nil {
			return err
		}
		if err := readColumn(r, inner, col); err != nil {
			return err
		}
		for i, null := range nulls {
			if null != 0 {
				col.set(i, `\N`)
			}
		}
		return nil
	}
	width, conv := numeric(typ)
	if width == 0 {
		return fmt.Errorf("type %q is not decoded here", typ)
	}
	var buf [8]byte
	for i := range col.n {
		if err := r.full(buf[:width]); err != nil {
			return err
		}
		s := conv(buf[:width])
		if err := r.charge(int64(len(s))); err != nil {
			return err
		}
		col.set(i, s)
	}
	return nil
}

// unsafeString returns b as a string without copying it; b must never be
// written again. Decoded values are each allocated once, so each costs
// what it is charged.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func numeric(typ string) (int, func([]byte) string) {
	le := binary.LittleEndian
	switch typ {
	case "UInt8":
		return 1, func(b []byte) string { return strconv.FormatUint(uint64(b[0]), 10) }
	case "Int8":
		return 1, func(b []byte) string { return strconv.FormatInt(int64(int8(b[0])), 10) }
	case "UInt16":
		return 2, func(b []byte) string { return strconv.FormatUint(uint64(le.Uint16(b)), 10) }
	case "Int16":
		return 2, func(b []byte) string { return strconv.FormatInt(int64(int16(le.Uint16(b))), 10) }
	case "UInt32", "DateTime":
		return 4, func(b []byte) string { return strconv.FormatUint(uint64(le.Uint32(b)), 10) }
	case "Int32":
		return 4, func(b []byte) string { return strconv.FormatInt(int64(int32(le.Uint32(b))), 10) }
	case "UInt64":
		return 8, func(b []byte) string { return strconv.FormatUint(le.Uint64(b), 10) }
	case "Int64":
		return 8, func(b []byte) string { return strconv.FormatInt(int64(le.Uint64(b)), 10) }
	case "Float32":
		return 4, func(b []byte) string {
			return strconv.FormatFloat(float64(math.Float32frombits(le.Uint32(b))), 'g', -1, 32)
		}
	case "Float64":
		return 8, func(b []byte) string { return strconv.FormatFloat(math.Float64frombits(le.Uint64(b)), 'g', -1, 64) }
	}
	return 0, nil
}

// skipProgress reads a Progress packet, whose fields depend on the revision.
func skipProgress(r *wireReader, rev uint64) error {
	n := 3
	if rev >= revClientWriteInfo {
		n = 5
	}
	for range n {
		if _, err := r.uvarint(); err != nil {
			return err
		}
	}
	return nil
}

func skipProfileInfo(r *wireReader) error {
	for _, kind := range []byte{'v', 'v', 'v', 'b', 'v', 'b'} {
		var err error
		if kind == 'v' {
			_, err = r.uvarint()
		} else {
			_, err = r.ReadByte()
		}
		if err != nil {
			return err
		}
	}
	return nil
}
