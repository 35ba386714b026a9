package memcached

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Bounds on what one answer may cost.
const (
	maxLine = 8 << 10 // one line of an answer: a STAT, a metadump line, a VALUE head
	// maxStatLines bounds a stats answer (stats items on 64 slab classes
	// is about 2,000 lines).
	maxStatLines = 10000
	// maxBinaryBody bounds the body of a binary answer the probe reads.
	maxBinaryBody = 1 << 10
)

var (
	errProtocol = errors.New("not a memcached answer")
	errLineLong = errors.New("a line past 8 KiB")
)

// conn is one text-protocol connection. Every command is sent and its
// answer read under a deadline (the timeout, or ctx's if sooner); a
// cancelled ctx pulls it in.
type conn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
	broken  bool // an answer was left half read: the connection is dropped
}

func dial(ctx context.Context, addr string, timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, maxLine), timeout: timeout}, nil
}

func (c *conn) close() error { return c.c.Close() }

// arm sets the connection's deadline for one exchange and returns the
// function that disarms it.
func (c *conn) arm(ctx context.Context) func() {
	dl := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func (c *conn) send(cmd string) error {
	_, err := io.WriteString(c.c, cmd+"\r\n")
	return err
}

// line reads one line of at most maxLine bytes, without its CRLF.
func (c *conn) line() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.broken = true
		return "", errLineLong
	}
	if err != nil {
		c.broken = true
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// serverError reads an error line: ERROR, CLIENT_ERROR …, SERVER_ERROR ….
func serverError(l string) error {
	for _, p := range []string{"ERROR", "CLIENT_ERROR", "SERVER_ERROR"} {
		if l == p || strings.HasPrefix(l, p+" ") {
			return &ServerError{Line: clip(l, 200)}
		}
	}
	return nil
}

// ServerError is an error line memcached answered with.
type ServerError struct{ Line string }

func (e *ServerError) Error() string { return "memcached answered " + strconv.Quote(e.Line) }

// version sends "version" and reads "VERSION x".
func (c *conn) version(ctx context.Context) (string, error) {
	defer c.arm(ctx)()
	if err := c.send("version"); err != nil {
		return "", err
	}
	l, err := c.line()
	if err != nil {
		return "", err
	}
	return parseVersionLine(l)
}

func parseVersionLine(l string) (string, error) {
	v, ok := strings.CutPrefix(l, "VERSION ")
	if !ok || !versionLike(v) {
		if err := serverError(l); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%.40q: %w", l, errProtocol)
	}
	return v, nil
}

func versionLike(s string) bool {
	if s == "" || len(s) > 64 || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// stats sends "stats" or "stats ARG" and reads its STAT lines.
func (c *conn) stats(ctx context.Context, arg string) (map[string]string, error) {
	defer c.arm(ctx)()
	cmd := "stats"
	if arg != "" {
		cmd += " " + arg
	}
	if err := c.send(cmd); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i := 0; ; i++ {
		l, err := c.line()
		if err != nil {
			return out, err
		}
		if l == "END" {
			return out, nil
		}
		if i == maxStatLines {
			c.broken = true
			return out, fmt.Errorf("stats %s: more than %d lines", arg, maxStatLines)
		}
		name, value, err := parseStat(l)
		if err != nil {
			c.broken = true
			return out, err
		}
		out[name] = value
	}
}

func parseStat(l string) (string, string, error) {
	rest, ok := strings.CutPrefix(l, "STAT ")
	if !ok {
		if err := serverError(l); err != nil {
			return "", "", err
		}
		return "", "", fmt.Errorf("%.40q where a STAT line was due: %w", l, errProtocol)
	}
	name, value, _ := strings.Cut(rest, " ")
	return name, value, nil
}

// item is one key as metadump lists it.
type item struct {
	Key  string
	Size int64 // the item's size in the slab (key, value and header)
	Exp  int64 // -1: never
}

// parseMetadump reads one line of "lru_crawler metadump": key=<uri-encoded>
// exp=… la=… cas=… fetch=… cls=… size=…
func parseMetadump(l string) (item, error) {
	it := item{Size: -1}
	ok := false
	for _, f := range strings.Fields(l) {
		name, value, _ := strings.Cut(f, "=")
		switch name {
		case "key":
			k, err := url.PathUnescape(value)
			if err != nil || k == "" {
				return it, fmt.Errorf("metadump key %.40q: %w", value, errProtocol)
			}
			it.Key, ok = k, true
		case "size":
			n, err := strconv.ParseInt(value, 10, 64)
			if err == nil && n >= 0 {
				it.Size = n
			}
		case "exp":
			n, err := strconv.ParseInt(value, 10, 64)
			if err == nil {
				it.Exp = n
			}
		}
	}
	if !ok {
		return it, fmt.Errorf("metadump line %.40q: %w", l, errProtocol)
	}
	return it, nil
}

// fetchable reports whether a key can be named in a text command as it
// is: no byte that ends or splits a command (space, tab, CR, LF, NUL, a
// vertical tab or form feed), at most 250 bytes, as memcached allows.
func fetchable(k string) bool {
	if k == "" || len(k) > 250 {
		return false
	}
	return !strings.ContainsAny(k, " \t\r\n\x00\v\f")
}

// valueHead reads "VALUE <key> <flags> <bytes> [<cas>]".
func valueHead(l string) (key string, n int64, err error) {
	f := strings.Fields(l)
	if len(f) < 4 || f[0] != "VALUE" {
		if err := serverError(l); err != nil {
			return "", 0, err
		}
		return "", 0, fmt.Errorf("%.40q where VALUE or END was due: %w", l, errProtocol)
	}
	n, err = strconv.ParseInt(f[3], 10, 64)
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("VALUE of %.20q bytes: %w", f[3], errProtocol)
	}
	return f[1], n, nil
}

// Binary protocol, for the probe only: "version" and "stat" are answered
// (or refused with "Auth failure.") by a server that speaks only SASL.
const (
	binReq       = 0x80
	binRes       = 0x81
	opStat       = 0x10
	opVersion    = 0x0b
	statusOK     = 0x00
	statusAuth   = 0x20 // authentication required / failure
	statusUnkCmd = 0x81
)

func binRequest(op byte) []byte {
	b := make([]byte, 24)
	b[0], b[1] = binReq, op
	return b
}

// binHeader is a binary answer's header.
type binHeader struct {
	op      byte
	status  uint16
	keyLen  uint16
	extLen  byte
	bodyLen uint32
}

func parseBinHeader(b []byte) (binHeader, error) {
	if len(b) < 24 || b[0] != binRes {
		return binHeader{}, errProtocol
	}
	h := binHeader{op: b[1], keyLen: binary.BigEndian.Uint16(b[2:]), extLen: b[4],
		status: binary.BigEndian.Uint16(b[6:]), bodyLen: binary.BigEndian.Uint32(b[8:])}
	if uint32(h.keyLen)+uint32(h.extLen) > h.bodyLen {
		return binHeader{}, errProtocol
	}
	return h, nil
}

// binExchange sends one binary request and reads the answer's header and
// body (at most maxBinaryBody).
func (c *conn) binExchange(ctx context.Context, op byte) (binHeader, []byte, error) {
	defer c.arm(ctx)()
	if _, err := c.c.Write(binRequest(op)); err != nil {
		return binHeader{}, nil, err
	}
	var hb [24]byte
	if _, err := io.ReadFull(c.r, hb[:]); err != nil {
		return binHeader{}, nil, err
	}
	h, err := parseBinHeader(hb[:])
	if err != nil || h.op != op {
		return binHeader{}, nil, errProtocol
	}
	if h.bodyLen > maxBinaryBody {
		return h, nil, fmt.Errorf("a binary answer of %d bytes: %w", h.bodyLen, errProtocol)
	}
	body := make([]byte, h.bodyLen)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return h, nil, err
	}
	return h, body[int(h.extLen)+int(h.keyLen):], nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
