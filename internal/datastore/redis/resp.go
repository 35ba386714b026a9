package redis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A reply is one RESP2 value as the server sent it, within caps.
type reply struct {
	kind byte // '+' simple string, '-' error, ':' integer, '$' bulk, '*' array
	str  string
	n    int64
	arr  []reply
	null bool // a null bulk ($-1) or null array (*-1)
	// cut: a bulk longer than the reader keeps; str holds its start, and
	// size the length the server claimed.
	cut  bool
	size int64
}

func (r reply) isErr() bool { return r.kind == '-' }

// text is the reply as text, where it is one.
func (r reply) text() string {
	if r.kind == ':' {
		return strconv.FormatInt(r.n, 10)
	}
	return r.str
}

// Caps on what one reply may hold, whatever the peer sends.
type caps struct {
	line  int   // bytes of a simple string, error or integer line
	bulk  int   // bytes of a bulk string kept; the rest is read and dropped
	elems int   // elements of all arrays of the reply together
	depth int   // nesting of arrays
	wire  int64 // bytes read off the wire for the whole reply
	// charge is called with the bytes held of each value kept; an error
	// ends the read (the session's memory budget).
	charge func(int64) error
}

var defaultCaps = caps{line: 64 << 10, bulk: 64 << 10, elems: 100_000, depth: 8, wire: 32 << 20}

// errProtocol marks bytes that are not RESP: the peer is not Redis, or
// not any more.
var errProtocol = errors.New("not RESP")

// errTooBig marks a reply past a cap: the connection is then unusable
// (the rest of the reply is still in flight).
var errTooBig = errors.New("reply past a cap")

// respReader reads RESP2 replies from a buffered connection.
type respReader struct {
	br   *bufio.Reader
	caps caps
	wire int64 // bytes read of the current reply
	elem int   // array elements of the current reply
}

func newRespReader(r io.Reader) *respReader {
	return &respReader{br: bufio.NewReaderSize(r, 16<<10), caps: defaultCaps}
}

// read reads one whole reply under c.
func (r *respReader) read(c caps) (reply, error) {
	r.caps, r.wire, r.elem = c, 0, 0
	return r.value(0)
}

func (r *respReader) charge(n int64) error {
	if r.caps.charge == nil {
		return nil
	}
	return r.caps.charge(n)
}

// line reads a CRLF-ended line of at most caps.line bytes, without the CRLF.
func (r *respReader) line() ([]byte, error) {
	var out []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		r.wire += int64(len(frag))
		if len(out)+len(frag) > r.caps.line+2 {
			return nil, fmt.Errorf("a line longer than %d bytes: %w", r.caps.line, errTooBig)
		}
		out = append(out, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(out) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	if len(out) < 2 || out[len(out)-2] != '\r' {
		return nil, fmt.Errorf("a line not ended by CRLF: %w", errProtocol)
	}
	return out[:len(out)-2], nil
}

func (r *respReader) value(depth int) (reply, error) {
	if r.wire > r.caps.wire {
		return reply{}, fmt.Errorf("a reply of more than %d bytes: %w", r.caps.wire, errTooBig)
	}
	// A first byte that starts no reply ends the read at once, not at
	// the line's end, which a peer of another kind may never send.
	if first, err := r.br.Peek(1); err != nil {
		return reply{}, err
	} else if !strings.ContainsRune("+-:$*", rune(first[0])) {
		return reply{}, fmt.Errorf("a reply starting %q: %w", first[0], errProtocol)
	}
	b, err := r.line()
	if err != nil {
		return reply{}, err
	}
	if len(b) == 0 {
		return reply{}, fmt.Errorf("an empty line: %w", errProtocol)
	}
	kind, rest := b[0], b[1:]
	switch kind {
	case '+', '-':
		if err := r.charge(int64(len(rest)) + 32); err != nil {
			return reply{}, err
		}
		return reply{kind: kind, str: string(rest)}, nil
	case ':':
		n, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil {
			return reply{}, fmt.Errorf("integer %.40q: %w", rest, errProtocol)
		}
		return reply{kind: kind, n: n}, nil
	case '$':
		n, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil || n < -1 {
			return reply{}, fmt.Errorf("bulk length %.40q: %w", rest, errProtocol)
		}
		if n == -1 {
			return reply{kind: kind, null: true}, nil
		}
		if n > r.caps.wire-r.wire {
			return reply{}, fmt.Errorf("a bulk string of %d bytes, past the reply's cap of %d: %w", n, r.caps.wire, errTooBig)
		}
		keep := min(n, int64(r.caps.bulk))
		if err := r.charge(keep + 32); err != nil {
			return reply{}, err
		}
		// One allocation for what is kept; the rest is read through the
		// buffer and dropped.
		var sb strings.Builder
		sb.Grow(int(keep))
		for rem := keep; rem > 0; {
			p, err := r.br.Peek(int(min(rem, int64(r.br.Size()))))
			sb.Write(p)
			r.br.Discard(len(p))
			rem -= int64(len(p))
			if err != nil && rem > 0 {
				return reply{}, unexpected(err)
			}
		}
		for rem := n - keep; rem > 0; {
			d, err := r.br.Discard(int(min(rem, 1<<20)))
			rem -= int64(d)
			if err != nil && rem > 0 {
				return reply{}, unexpected(err)
			}
		}
		var crlf [2]byte
		if _, err := io.ReadFull(r.br, crlf[:]); err != nil {
			return reply{}, unexpected(err)
		}
		if crlf != [2]byte{'\r', '\n'} {
			return reply{}, fmt.Errorf("a bulk string not ended by CRLF: %w", errProtocol)
		}
		r.wire += n + 2
		return reply{kind: kind, str: sb.String(), cut: keep < n, size: n}, nil
	case '*':
		n, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil || n < -1 {
			return reply{}, fmt.Errorf("array length %.40q: %w", rest, errProtocol)
		}
		if n == -1 {
			return reply{kind: kind, null: true}, nil
		}
		if depth >= r.caps.depth {
			return reply{}, fmt.Errorf("arrays nested deeper than %d: %w", r.caps.depth, errTooBig)
		}
		if n > int64(r.caps.elems-r.elem) {
			return reply{}, fmt.Errorf("an array of %d elements, past the reply's cap of %d: %w", n, r.caps.elems, errTooBig)
		}
		r.elem += int(n)
		if err := r.charge(n*int64(48) + 32); err != nil {
			return reply{}, err
		}
		out := reply{kind: kind, arr: make([]reply, 0, n)}
		for range n {
			v, err := r.value(depth + 1)
			if err != nil {
				return reply{}, err
			}
			out.arr = append(out.arr, v)
		}
		return out, nil
	}
	return reply{}, fmt.Errorf("a reply starting %q: %w", kind, errProtocol)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendCommand appends one command as a RESP array of bulk strings: every
// argument is a counted string, so no name a server sent can change what
// the command means.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}
