package mongodb

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// MongoDB's wire protocol: a 16-byte header (length, request id, the id
// answered, opcode), then OP_MSG (2013, MongoDB 3.6+) sections or, for the
// handshake and servers before 3.6, OP_QUERY (2004) answered by OP_REPLY (1).
const (
	opReply = 1
	opQuery = 2004
	opMsg   = 2013
	// opCompressed (2012) is never asked for: we offer no compressor.

	headerLen = 16
	// maxMessage is the most one answer may claim: MongoDB's own
	// maxMessageSizeBytes is 48 MB; a command answer of ours is far less.
	maxMessage = 48 << 20
	// wire versions: 6 is MongoDB 3.6, the first with OP_MSG.
	wireOpMsg = 6
)

// errProtocol: the peer does not speak MongoDB's wire protocol.
var errProtocol = errors.New("not MongoDB's wire protocol")

// CommandError is a command a server refused: {ok: 0, code, codeName, errmsg}.
type CommandError struct {
	Code     int
	CodeName string
	Message  string
}

func (e *CommandError) Error() string {
	if e.CodeName != "" {
		return fmt.Sprintf("%s (code %d %s)", e.Message, e.Code, e.CodeName)
	}
	return fmt.Sprintf("%s (code %d)", e.Message, e.Code)
}

// Codes leakhound reads.
const (
	codeUnauthorized     = 13
	codeAuthFailed       = 18
	codeMaxTimeMSExpired = 50
)

// conn is one connection to a server.
type conn struct {
	c       net.Conn
	reqID   int32
	opMsg   bool // the server speaks OP_MSG (maxWireVersion >= 6)
	charge  func(n int64) error
	timeout time.Duration
}

// dial connects to ep, inside TLS when useTLS, within timeout.
func dial(ctx context.Context, ep datastore.Endpoint, useTLS bool, timeout time.Duration) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", ep.Addr())
	if err != nil {
		return nil, err
	}
	if useTLS {
		// We assess the server, we do not trust it: its certificate is
		// recorded by the look, not verified.
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10})
		c.SetDeadline(time.Now().Add(timeout))
		if err := tc.HandshakeContext(dctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	return &conn{c: c, timeout: timeout}, nil
}

// arm sets the connection's deadline to timeout or ctx's deadline,
// whichever is first, and pulls it in when ctx is cancelled; disarm undoes
// the latter.
func (w *conn) arm(ctx context.Context, timeout time.Duration) (disarm func() bool) {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	w.c.SetDeadline(dl)
	return context.AfterFunc(ctx, func() { w.c.SetDeadline(time.Unix(1, 0)) })
}

func (w *conn) close() error { return w.c.Close() }

// roundTrip sends one message and reads its answer: at most limit bytes,
// checked against the header before anything else is read.
func (w *conn) roundTrip(op int32, body []byte, limit int) (int32, []byte, error) {
	w.reqID++
	id := w.reqID
	msg := make([]byte, headerLen, headerLen+len(body))
	binary.LittleEndian.PutUint32(msg[0:], uint32(headerLen+len(body)))
	binary.LittleEndian.PutUint32(msg[4:], uint32(id))
	binary.LittleEndian.PutUint32(msg[12:], uint32(op))
	msg = append(msg, body...)
	if _, err := w.c.Write(msg); err != nil {
		return 0, nil, err
	}
	return readMessage(w.c, id, limit, w.charge)
}

// readMessage reads one message answering id: its opcode and body.
func readMessage(r io.Reader, id int32, limit int, charge func(int64) error) (int32, []byte, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	return readBody(r, h[:], id, limit, charge)
}

func readBody(r io.Reader, h []byte, id int32, limit int, charge func(int64) error) (int32, []byte, error) {
	n := int(int32(binary.LittleEndian.Uint32(h[0:])))
	to := int32(binary.LittleEndian.Uint32(h[8:]))
	op := int32(binary.LittleEndian.Uint32(h[12:]))
	if op != opReply && op != opMsg {
		return 0, nil, fmt.Errorf("opcode %d: %w", op, errProtocol)
	}
	if to != id {
		return 0, nil, fmt.Errorf("an answer to request %d, not ours (%d): %w", to, id, errProtocol)
	}
	if n < headerLen+5 || n > maxMessage {
		return 0, nil, fmt.Errorf("a message claiming %d bytes: %w", n, errProtocol)
	}
	if n-headerLen > limit {
		return 0, nil, &capError{n - headerLen, limit}
	}
	if charge != nil {
		if err := charge(int64(n)); err != nil {
			return 0, nil, err
		}
	}
	body := make([]byte, n-headerLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("a message cut short: %w", err)
	}
	return op, body, nil
}

// capError: an answer larger than the caller's cap; the connection is then
// unusable (its answer is still in flight).
type capError struct{ size, limit int }

func (e *capError) Error() string {
	return fmt.Sprintf("an answer of %d bytes, past the cap of %d", e.size, e.limit)
}

// msgBody builds an OP_MSG with one body section.
func msgBody(cmd []byte) []byte {
	b := make([]byte, 0, 5+len(cmd))
	b = append(b, 0, 0, 0, 0) // flagBits: no checksum, no moreToCome
	b = append(b, 0)          // section kind 0: the body
	return append(b, cmd...)
}

// parseMsg reads an OP_MSG answer's body document.
func parseMsg(b []byte) (Document, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("OP_MSG of %d bytes: %w", len(b), errProtocol)
	}
	flags := binary.LittleEndian.Uint32(b)
	if flags&1 != 0 { // a checksum trails the sections
		if len(b) < 9 {
			return nil, fmt.Errorf("OP_MSG too short for its checksum: %w", errProtocol)
		}
		b = b[:len(b)-4]
	}
	b = b[4:]
	var body Document
	found := false
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		switch kind {
		case 0:
			n, err := docLen(b)
			if err != nil {
				return nil, err
			}
			if found {
				return nil, fmt.Errorf("OP_MSG with two bodies: %w", errProtocol)
			}
			if body, err = decodeDocument(b[:n]); err != nil {
				return nil, err
			}
			found = true
			b = b[n:]
		case 1: // a document sequence: skipped (servers send none to us)
			if len(b) < 4 {
				return nil, errProtocol
			}
			n := int(int32(binary.LittleEndian.Uint32(b)))
			if n < 4 || n > len(b) {
				return nil, fmt.Errorf("a document sequence claiming %d bytes: %w", n, errProtocol)
			}
			b = b[n:]
		default:
			return nil, fmt.Errorf("OP_MSG section kind %d: %w", kind, errProtocol)
		}
	}
	if !found {
		return nil, fmt.Errorf("OP_MSG without a body: %w", errProtocol)
	}
	return body, nil
}

// queryBody builds an OP_QUERY of cmd on db.$cmd, one document back.
func queryBody(db string, cmd []byte) ([]byte, error) {
	b := make([]byte, 0, 64+len(cmd))
	b = binary.LittleEndian.AppendUint32(b, 0) // flags
	b, err := appendCString(b, db+".$cmd")
	if err != nil {
		return nil, err
	}
	b = binary.LittleEndian.AppendUint32(b, 0)          // numberToSkip
	b = binary.LittleEndian.AppendUint32(b, 0xffffffff) // numberToReturn: -1, one document and close
	return append(b, cmd...), nil
}

// parseReply reads an OP_REPLY answer's first document.
func parseReply(b []byte) (Document, error) {
	if len(b) < 20 {
		return nil, fmt.Errorf("OP_REPLY of %d bytes: %w", len(b), errProtocol)
	}
	flags := binary.LittleEndian.Uint32(b)
	count := int32(binary.LittleEndian.Uint32(b[16:]))
	b = b[20:]
	if flags&2 != 0 && count == 0 {
		return nil, fmt.Errorf("query failure without a document: %w", errProtocol)
	}
	if count < 1 {
		return nil, fmt.Errorf("OP_REPLY with %d documents: %w", count, errProtocol)
	}
	n, err := docLen(b)
	if err != nil {
		return nil, err
	}
	return decodeDocument(b[:n])
}

// command runs cmd on db and returns its answer, or a *CommandError when
// the server said ok: 0.
func (w *conn) command(db string, cmd doc, limit int) (Document, error) {
	if w.opMsg {
		cmd = append(cmd, elem{"$db", db})
	}
	enc, err := cmd.encode()
	if err != nil {
		return nil, err
	}
	var op int32 = opMsg
	body := msgBody(enc)
	if !w.opMsg {
		op = opQuery
		if body, err = queryBody(db, enc); err != nil {
			return nil, err
		}
	}
	gotOp, ans, err := w.roundTrip(op, body, limit)
	if err != nil {
		return nil, err
	}
	var d Document
	switch gotOp {
	case opMsg:
		d, err = parseMsg(ans)
	default:
		d, err = parseReply(ans)
	}
	if err != nil {
		return nil, err
	}
	if !d.ok() {
		return d, commandError(d)
	}
	return d, nil
}

func commandError(d Document) *CommandError {
	code := d.Int("code")
	return &CommandError{Code: int(code), CodeName: d.Str("codeName"), Message: d.Str("errmsg")}
}

// hello asks isMaster over OP_QUERY, which every server answers, from
// MongoDB 2.x to 8.x (which keeps OP_QUERY for the handshake only) and
// FerretDB, and learns whether it speaks OP_MSG.
func (w *conn) hello() (Document, error) {
	cmd := doc{{"isMaster", int32(1)}, {"client", doc{{"application", doc{{"name", "leakhound"}}},
		{"driver", doc{{"name", "leakhound"}, {"version", "0.1"}}}}}}
	enc, err := cmd.encode()
	if err != nil {
		return nil, err
	}
	body, err := queryBody("admin", enc)
	if err != nil {
		return nil, err
	}
	op, ans, err := w.roundTrip(opQuery, body, 1<<20)
	if err != nil {
		return nil, err
	}
	var d Document
	if op == opMsg {
		d, err = parseMsg(ans)
	} else {
		d, err = parseReply(ans)
	}
	if err != nil {
		return nil, err
	}
	if !d.ok() {
		return d, commandError(d)
	}
	w.opMsg = d.Int("maxWireVersion") >= wireOpMsg
	return d, nil
}
