package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// conn is one connection to a Redis server that sends only the commands
// readOnly allows, each with a deadline, and reads every reply under caps.
type conn struct {
	c       net.Conn
	r       *respReader
	timeout time.Duration
	buf     []byte
}

// dial connects to ep, inside TLS when useTLS (the certificate is recorded
// by the look, not trusted: we assess the server).
func dial(ctx context.Context, ep datastore.Endpoint, useTLS bool, timeout time.Duration) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", ep.Addr())
	if err != nil {
		return nil, err
	}
	if useTLS {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10})
		if err := tc.HandshakeContext(dctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	return &conn{c: c, r: newRespReader(c), timeout: timeout}, nil
}

func (c *conn) Close() error { return c.c.Close() }

// readOnly reports whether a command may be sent: only commands that read
// (and SELECT, which picks the connection's database), and of the
// commands with subcommands only the reading ones. This is the session's
// guard: Redis has no read-only session mode, so no other command ever
// leaves the process, whatever a caller asks.
func readOnly(args []string) bool {
	if len(args) == 0 {
		return false
	}
	sub := ""
	if len(args) > 1 {
		sub = strings.ToUpper(args[1])
	}
	switch strings.ToUpper(args[0]) {
	case "PING", "INFO", "SELECT", "DBSIZE", "SCAN", "RANDOMKEY", "TYPE", "EXISTS", "STRLEN", "GETRANGE",
		"HLEN", "HSCAN", "LLEN", "LRANGE", "SCARD", "SSCAN", "ZCARD", "ZRANGE", "XLEN", "XRANGE":
		return true
	case "COMMAND":
		return sub == "INFO" || sub == "COUNT"
	case "ACL":
		return sub == "WHOAMI" || sub == "GETUSER" || sub == "DRYRUN"
	case "CONFIG":
		return sub == "GET"
	case "MEMORY":
		return sub == "USAGE"
	}
	return false
}

var errNotReadOnly = errors.New("not a read-only command: never sent")

// pipeline sends cmds at once and reads one reply each, all within the
// connection's timeout (and ctx). A server error is a reply, not an error;
// an error means the connection is no longer usable.
func (c *conn) pipeline(ctx context.Context, cp caps, cmds ...[]string) ([]reply, error) {
	for _, args := range cmds {
		if !readOnly(args) {
			return nil, fmt.Errorf("%q: %w", args[0], errNotReadOnly)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.buf = c.buf[:0]
	for _, args := range cmds {
		c.buf = appendCommand(c.buf, args...)
	}
	if _, err := c.c.Write(c.buf); err != nil {
		return nil, c.failed(ctx, err)
	}
	out := make([]reply, 0, len(cmds))
	for range cmds {
		v, err := c.r.read(cp)
		if err != nil {
			return out, c.failed(ctx, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// do sends one command and reads its reply.
func (c *conn) do(ctx context.Context, cp caps, args ...string) (reply, error) {
	out, err := c.pipeline(ctx, cp, args)
	if err != nil {
		return reply{}, err
	}
	return out[0], nil
}

// failed names why a connection failed: the context's end where it was
// the cause.
func (c *conn) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// replyError is an error reply of the server, as an error.
type replyError struct{ msg string }

func (e *replyError) Error() string { return "the server answered: " + e.msg }

// code is the error's first word: NOAUTH, NOPERM, DENIED, ERR, WRONGTYPE…
func (e *replyError) code() string {
	w, _, _ := strings.Cut(e.msg, " ")
	return w
}

// infoFields reads INFO's "name:value" lines.
func infoFields(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok && len(out) < 1000 {
			out[k] = v
		}
	}
	return out
}
