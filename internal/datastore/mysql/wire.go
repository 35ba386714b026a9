package mysql

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// The MySQL client/server protocol, as much of it as a read-only scanner
// needs: the server's greeting, a login with an empty auth response, and
// COM_QUERY's text result sets. It is written here rather than taken from
// go-sql-driver, which buffers whole answers of up to 64 MiB, drains a
// result on Close and retries behind database/sql's pool: a hostile server
// must cost a timeout and a bounded amount of memory, never more.

// Capability flags (client and server).
const (
	capLongPassword     = 0x00000001 // on MariaDB's greeting: clear (the CLIENT_MYSQL bit)
	capLongFlag         = 0x00000004
	capConnectWithDB    = 0x00000008
	capLocalFiles       = 0x00000080 // never set: a server could ask for our files
	capProtocol41       = 0x00000200
	capSSL              = 0x00000800
	capTransactions     = 0x00002000
	capSecureConnection = 0x00008000
	capMultiStatements  = 0x00010000 // never set: one statement per query
	capPluginAuth       = 0x00080000
	capPluginAuthLenenc = 0x00200000
)

// clientCaps are what we ask for: no LOCAL INFILE, no multi-statements,
// no compression, no TLS (plaintext unless negotiated, which we do not).
const clientCaps = capLongPassword | capLongFlag | capProtocol41 | capTransactions | capSecureConnection | capPluginAuth | capPluginAuthLenenc

// maxPacket is the largest packet we accept. A row of the text protocol
// fits one packet; values are cut by the queries themselves (LEFT()) far
// below this, so only a hostile peer sends more.
const maxPacket = 1 << 20

// ServerError is an ERR packet: the server's code, SQLSTATE and message.
type ServerError struct {
	Code     int
	SQLState string
	Message  string
}

func (e *ServerError) Error() string {
	if e.SQLState != "" {
		return fmt.Sprintf("error %d (%s): %s", e.Code, e.SQLState, e.Message)
	}
	return fmt.Sprintf("error %d: %s", e.Code, e.Message)
}

// errProtocol marks answers no real server sends.
var errProtocol = errors.New("not the MySQL protocol")

// wire is one connection: packets in and out, every read under a deadline.
type wire struct {
	c        net.Conn
	r        *bufio.Reader
	seq      byte
	read     int64 // bytes read from the server, in all
	buf      []byte
	deadline time.Time
}

func newWire(c net.Conn) *wire { return &wire{c: c, r: bufio.NewReaderSize(c, 16<<10)} }

// arm sets the connection's deadline to the earlier of now+timeout and
// ctx's, and makes ctx's cancellation end any read at once. The returned
// function disarms.
func (w *wire) arm(ctx context.Context, timeout time.Duration) func() {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	w.deadline = d
	w.c.SetDeadline(d)
	stop := context.AfterFunc(ctx, func() { w.c.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

// readPacket reads one packet of at most limit bytes.
func (w *wire) readPacket(limit int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	w.seq = h[3] + 1
	if n > limit {
		return nil, fmt.Errorf("the server announced a packet of %d bytes, more than the %d a real server's answer here holds: %w", n, limit, errProtocol)
	}
	// One buffer serves every packet: what is kept of one is copied out
	// (as strings) before the next is read, so an endless answer costs
	// its largest packet, not its length.
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	p := w.buf[:n]
	if _, err := io.ReadFull(w.r, p); err != nil {
		return nil, err
	}
	w.read += int64(n) + 4
	return p, nil
}

func (w *wire) writePacket(p []byte) error {
	b := make([]byte, 4, 4+len(p))
	b[0], b[1], b[2], b[3] = byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), w.seq
	w.seq++
	_, err := w.c.Write(append(b, p...))
	return err
}

// greeting is the server's initial handshake (protocol 10).
type greeting struct {
	Version  string
	ConnID   uint32
	Caps     uint32
	Charset  byte
	Plugin   string
	MariaDB  bool
	AuthData []byte
}

// parseGreeting reads the first packet a server sends: a handshake, or an
// ERR packet (1130: this host may not connect; 1040: too many connections).
// A *ServerError is returned for the latter.
func parseGreeting(p []byte) (*greeting, error) {
	if len(p) == 0 {
		return nil, fmt.Errorf("empty greeting: %w", errProtocol)
	}
	if p[0] == 0xff {
		return nil, parseErr(p, false)
	}
	if p[0] != 10 {
		return nil, fmt.Errorf("greeting of protocol %d: %w", p[0], errProtocol)
	}
	d := decoder{b: p[1:]}
	g := &greeting{}
	v, ok := d.nulString()
	if !ok || len(v) == 0 || len(v) > 256 || !utf8.ValidString(v) || !printableASCII(v) {
		return nil, fmt.Errorf("greeting without a version: %w", errProtocol)
	}
	g.Version = v
	g.ConnID = d.u32()
	auth1 := d.bytes(8)
	d.skip(1)
	capLow := uint32(d.u16())
	if d.bad {
		return nil, fmt.Errorf("greeting cut short: %w", errProtocol)
	}
	g.AuthData = append(g.AuthData, auth1...)
	if d.left() == 0 {
		g.Caps = capLow
		return g.flavour(), nil
	}
	g.Charset = d.u8()
	d.u16() // status
	g.Caps = capLow | uint32(d.u16())<<16
	authLen := int(d.u8())
	d.skip(10)
	if g.Caps&capSecureConnection != 0 {
		n := max(13, authLen-8)
		a := d.bytes(min(n, d.left()))
		g.AuthData = append(g.AuthData, a...)
	}
	if g.Caps&capPluginAuth != 0 {
		pl, ok := d.nulString()
		if !ok {
			pl = string(d.rest()) // some servers omit the NUL
		}
		if len(pl) > 64 || !printableASCII(pl) {
			return nil, fmt.Errorf("greeting with an auth plugin name no server sends: %w", errProtocol)
		}
		g.Plugin = pl
	}
	if d.bad {
		return nil, fmt.Errorf("greeting cut short: %w", errProtocol)
	}
	return g.flavour(), nil
}

// flavour tells MariaDB from MySQL: MariaDB clears the CLIENT_MYSQL bit
// and says so in its version ("5.5.5-10.11.19-MariaDB-…": the 5.5.5-
// prefix keeps old clients working).
func (g *greeting) flavour() *greeting {
	g.MariaDB = strings.Contains(strings.ToLower(g.Version), "mariadb")
	g.Version = strings.TrimPrefix(g.Version, "5.5.5-")
	return g
}

// shortVersion is the version without the distribution's suffix:
// "10.11.19" of "10.11.19-MariaDB-0+deb12u1".
func shortVersion(v string) string {
	if i := strings.IndexAny(v, "-+ "); i > 0 {
		return v[:i]
	}
	return v
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseErr decodes an ERR packet. marker: the packet may carry
// "#SQLSTATE" (after the handshake); greeting errors do not.
func parseErr(p []byte, marker bool) *ServerError {
	d := decoder{b: p[1:]}
	e := &ServerError{Code: int(d.u16())}
	rest := d.rest()
	if marker && len(rest) >= 6 && rest[0] == '#' {
		e.SQLState = string(rest[1:6])
		rest = rest[6:]
	}
	e.Message = clean(string(rest), 512)
	return e
}

// clean makes a server's text safe to print: valid UTF-8, no control
// characters, at most n bytes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// handshakeResponse is HandshakeResponse41 for user with an EMPTY auth
// response: no password, and no guess at one, is ever sent.
func handshakeResponse(g *greeting, user string) []byte {
	caps := uint32(clientCaps) & (g.Caps | capLongPassword)
	caps |= capProtocol41 | capSecureConnection
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, maxPacket)
	cs := byte(45) // utf8mb4_general_ci
	b = append(b, cs)
	b = append(b, make([]byte, 23)...)
	b = append(b, user...)
	b = append(b, 0)
	b = append(b, 0) // auth response: length 0 (lenenc or one byte alike)
	if caps&capPluginAuth != 0 {
		plugin := g.Plugin
		if plugin == "" {
			plugin = "mysql_native_password"
		}
		b = append(b, plugin...)
		b = append(b, 0)
	}
	return b
}

// loginResult is what the server said to an empty-password login.
type loginResult struct {
	OK  bool
	Err *ServerError
	// Plugin is the auth method the server switched to, if it did.
	Plugin string
}

// login sends the handshake response and follows the server's answer:
// AuthSwitchRequest is answered with an empty response again; a request
// for the full password exchange (caching_sha2_password) ends the login,
// since nothing but a password answers it.
func (w *wire) login(g *greeting, user string) (loginResult, error) {
	w.seq = 1
	if err := w.writePacket(handshakeResponse(g, user)); err != nil {
		return loginResult{}, err
	}
	var res loginResult
	for range 4 {
		p, err := w.readPacket(64 << 10)
		if err != nil {
			return res, err
		}
		if len(p) == 0 {
			return res, fmt.Errorf("empty answer to the login: %w", errProtocol)
		}
		switch p[0] {
		case 0x00:
			res.OK = true
			return res, nil
		case 0xff:
			res.Err = parseErr(p, true)
			return res, nil
		case 0xfe: // AuthSwitchRequest: plugin name, then its data
			d := decoder{b: p[1:]}
			pl, _ := d.nulString()
			res.Plugin = clean(pl, 64)
			if err := w.writePacket(nil); err != nil {
				return res, err
			}
		case 0x01: // AuthMoreData
			if len(p) == 2 && p[1] == 0x03 { // caching_sha2 fast auth: OK follows
				continue
			}
			res.Err = &ServerError{Code: 1045, Message: "the server asked for the full password exchange (" + res.pluginOr(g.Plugin) + ")"}
			return res, nil
		default:
			return res, fmt.Errorf("answer 0x%02x to the login: %w", p[0], errProtocol)
		}
	}
	return res, fmt.Errorf("the login did not end after 4 exchanges: %w", errProtocol)
}

func (r loginResult) pluginOr(p string) string {
	if r.Plugin != "" {
		return r.Plugin
	}
	return p
}

// quit says goodbye, so the server counts no aborted connection.
func (w *wire) quit() {
	w.seq = 0
	w.c.SetWriteDeadline(time.Now().Add(time.Second))
	w.writePacket([]byte{0x01})
}

// resultSet is what one query read: its column names and rows as text
// (NULL as ""), and whether a cap cut it.
type resultSet struct {
	Columns []string
	Rows    [][]string
	Null    [][]bool
	Cut     string // why the answer was cut short, "" if whole
	Bytes   int64  // bytes read
}

// queryCaps bound one query's answer on our side.
type queryCaps struct {
	rows  int   // rows kept; more are read and dropped until bytes runs out
	bytes int64 // bytes read, in all
	cell  int   // bytes kept of one value
	// charge takes what is kept from the session's memory budget.
	charge func(n int64) error
}

// maxColumns is the most columns a result may have: a real one here has a
// handful; a peer announcing a million must not make us allocate for them.
const maxColumns = 4096

// query runs sql with COM_QUERY and reads its text result set. A cap that
// is reached ends the read and closes nothing: the caller must drop the
// connection when Cut is set (the rest of the answer is still in flight).
func (w *wire) query(sql string, caps queryCaps) (*resultSet, error) {
	w.seq = 0
	start := w.read
	if err := w.writePacket(append([]byte{0x03}, sql...)); err != nil {
		return nil, err
	}
	p, err := w.readPacket(maxPacket)
	if err != nil {
		return nil, err
	}
	res := &resultSet{}
	defer func() { res.Bytes = w.read - start }()
	switch {
	case len(p) == 0:
		return nil, fmt.Errorf("empty answer to a query: %w", errProtocol)
	case p[0] == 0x00:
		return res, nil
	case p[0] == 0xff:
		return nil, parseErr(p, true)
	case p[0] == 0xfb:
		// LOCAL INFILE request: never honoured (we never set the
		// capability; only a hostile server asks).
		w.writePacket(nil)
		return nil, fmt.Errorf("the server asked for a local file, which leakhound never sends: %w", errProtocol)
	}
	d := decoder{b: p}
	n, null := d.lenenc()
	if d.bad || null || n == 0 || n > maxColumns {
		return nil, fmt.Errorf("a result of %d columns: %w", n, errProtocol)
	}
	for range n {
		c, err := w.readPacket(64 << 10)
		if err != nil {
			return nil, err
		}
		name, err := columnName(c)
		if err != nil {
			return nil, err
		}
		if err := caps.charge(int64(16 + len(name))); err != nil {
			return nil, err
		}
		res.Columns = append(res.Columns, name)
	}
	p, err = w.readPacket(maxPacket)
	if err != nil {
		return nil, err
	}
	if !isEOF(p) {
		return nil, fmt.Errorf("no EOF after the column definitions: %w", errProtocol)
	}
	for {
		if w.read-start > caps.bytes {
			res.Cut = fmt.Sprintf("answer cut at %d bytes", caps.bytes)
			return res, nil
		}
		p, err := w.readPacket(maxPacket)
		if err != nil {
			return res, err
		}
		if isEOF(p) {
			return res, nil
		}
		if len(p) > 0 && p[0] == 0xff {
			return res, parseErr(p, true)
		}
		if len(res.Rows) >= caps.rows {
			res.Cut = fmt.Sprintf("answer cut at %d rows", caps.rows)
			return res, nil
		}
		row, nulls, cost, err := decodeRow(p, len(res.Columns), caps.cell)
		if err != nil {
			return res, err
		}
		if err := caps.charge(cost); err != nil {
			return res, err
		}
		res.Rows = append(res.Rows, row)
		res.Null = append(res.Null, nulls)
	}
}

func isEOF(p []byte) bool { return len(p) > 0 && len(p) < 9 && p[0] == 0xfe }

// columnName reads the name of a Protocol::ColumnDefinition41.
func columnName(p []byte) (string, error) {
	d := decoder{b: p}
	for range 4 { // catalog, schema, table, org_table
		d.lenencBytes()
	}
	name := d.lenencBytes()
	if d.bad {
		return "", fmt.Errorf("a column definition cut short: %w", errProtocol)
	}
	return string(name), nil
}

// decodeRow reads a text-protocol row of n values, each cut to cell bytes
// (at a character boundary). cost is what holding it takes.
func decodeRow(p []byte, n, cell int) ([]string, []bool, int64, error) {
	d := decoder{b: p}
	row := make([]string, n)
	nulls := make([]bool, n)
	cost := int64(24 + 24 + n*17)
	for i := range n {
		if d.left() > 0 && d.b[d.i] == 0xfb {
			d.i++
			nulls[i] = true
			continue
		}
		v := d.lenencBytes()
		if d.bad {
			return nil, nil, 0, fmt.Errorf("a row cut short: %w", errProtocol)
		}
		if len(v) > cell {
			v = cutRunes(v[:cell])
		}
		row[i] = string(v)
		cost += int64(len(v))
	}
	if d.left() != 0 {
		return nil, nil, 0, fmt.Errorf("a row with %d bytes past its %d values: %w", d.left(), n, errProtocol)
	}
	return row, nulls, cost, nil
}

// cutRunes drops a character cut in half at the end of v.
func cutRunes(v []byte) []byte {
	for range utf8.UTFMax - 1 {
		if r, size := utf8.DecodeLastRune(v); r != utf8.RuneError || size != 1 {
			break
		}
		v = v[:len(v)-1]
	}
	return v
}

// decoder reads the protocol's integers and strings; any read past the
// end sets bad and yields zeros.
type decoder struct {
	b   []byte
	i   int
	bad bool
}

func (d *decoder) left() int { return len(d.b) - d.i }

func (d *decoder) bytes(n int) []byte {
	if n < 0 || d.left() < n {
		d.bad = true
		d.i = len(d.b)
		return nil
	}
	v := d.b[d.i : d.i+n]
	d.i += n
	return v
}

func (d *decoder) skip(n int) { d.bytes(n) }
func (d *decoder) rest() []byte {
	v := d.b[d.i:]
	d.i = len(d.b)
	return v
}

func (d *decoder) u8() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) u16() uint16 {
	b := d.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (d *decoder) u32() uint32 {
	b := d.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (d *decoder) nulString() (string, bool) {
	for j := d.i; j < len(d.b); j++ {
		if d.b[j] == 0 {
			s := string(d.b[d.i:j])
			d.i = j + 1
			return s, true
		}
	}
	return "", false
}

// lenenc reads a length-encoded integer; null is 0xfb.
func (d *decoder) lenenc() (n uint64, null bool) {
	c := d.u8()
	switch {
	case c < 0xfb:
		return uint64(c), false
	case c == 0xfb:
		return 0, true
	case c == 0xfc:
		return uint64(d.u16()), false
	case c == 0xfd:
		b := d.bytes(3)
		if b == nil {
			return 0, false
		}
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16, false
	case c == 0xfe:
		b := d.bytes(8)
		if b == nil {
			return 0, false
		}
		return binary.LittleEndian.Uint64(b), false
	}
	d.bad = true
	return 0, false
}

func (d *decoder) lenencBytes() []byte {
	n, _ := d.lenenc()
	if n > uint64(d.left()) {
		d.bad = true
		d.i = len(d.b)
		return nil
	}
	return d.bytes(int(n))
}
