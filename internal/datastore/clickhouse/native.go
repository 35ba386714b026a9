package clickhouse

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// nativeConn is one connection speaking ClickHouse's native TCP protocol.
type nativeConn struct {
	c       net.Conn
	r       *wireReader
	info    serverInfo
	rev     uint64
	timeout time.Duration
	broken  bool // a query was abandoned mid-stream: the connection is unusable
	cert    *datastore.Cert
	// mem is the session's memory budget, which every answer is charged
	// to; nil gives each query a budget of its own.
	mem *memBudget
}

// dialNative connects and says Hello as user with password. It returns the
// server's exception as a *ServerError when the server refuses the user, and
// errNotClickHouse when the peer does not speak the protocol.
func dialNative(ctx context.Context, addr string, useTLS bool, user, password string, timeout time.Duration) (*nativeConn, error) {
	n, _, err := dialNativeCert(ctx, addr, useTLS, user, password, timeout)
	return n, err
}

// dialNativeCert is dialNative that also returns the certificate a TLS
// server showed, even when it then refuses the user.
func dialNativeCert(ctx context.Context, addr string, useTLS bool, user, password string, timeout time.Duration) (*nativeConn, *datastore.Cert, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	n := &nativeConn{c: c, timeout: timeout}
	n.setDeadline(ctx)
	if useTLS {
		// We assess the server, we do not trust it: its certificate is
		// recorded, not verified.
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: hostOnly(addr)})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			n.cert = datastore.CertOf(pc[0])
		}
		n.c = tc
	}
	conn, err := n.hello(user, password)
	return conn, n.cert, err
}

// hello says Hello as user and reads the server's answer.
func (n *nativeConn) hello(user, password string) (*nativeConn, error) {
	c := n.c
	// The handshake may read at most a few strings, each capped.
	n.r = &wireReader{r: bufio.NewReaderSize(c, 64<<10), limit: 4 * maxWireString}
	if _, err := c.Write(encodeHello(user, password)); err != nil {
		c.Close()
		return nil, err
	}
	typ, err := n.r.uvarint()
	if err != nil {
		c.Close()
		return nil, notClickHouse(err)
	}
	switch typ {
	case serverHello:
		info, err := readHello(n.r)
		if err != nil {
			c.Close()
			return nil, notClickHouse(err)
		}
		if info.Major == 0 && info.Minor == 0 {
			c.Close()
			return nil, errNotClickHouse
		}
		n.info, n.rev = info, min(info.Revision, clientRevision)
		return n, nil
	case serverException:
		e, err := readException(n.r)
		c.Close()
		if err != nil {
			return nil, notClickHouse(err)
		}
		if e.Code <= 0 || e.Code > 100000 {
			return nil, errNotClickHouse
		}
		return nil, e
	default:
		c.Close()
		return nil, errNotClickHouse
	}
}

var errNotClickHouse = errors.New("not ClickHouse")

// notClickHouse maps a decoding failure during the handshake to "not this
// datastore", keeping timeouts visible as timeouts.
func notClickHouse(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no answer to the native Hello: %w", err)
	}
	return errNotClickHouse
}

func hostOnly(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func (n *nativeConn) setDeadline(ctx context.Context) {
	dl := time.Now().Add(n.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	n.c.SetDeadline(dl)
}

func (n *nativeConn) close() error { return n.c.Close() }

// query runs one SELECT and returns its rows as text. It stops reading and
// breaks the connection once maxBytes have been read back.
func (n *nativeConn) query(ctx context.Context, sql string, settings []setting, maxBytes int64) (*result, error) {
	if n.broken {
		return nil, errors.New("connection abandoned by an earlier query")
	}
	n.setDeadline(ctx)
	stop := context.AfterFunc(ctx, func() { n.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := n.c.Write(encodeQuery(n.rev, "", sql, settings)); err != nil {
		n.broken = true
		return nil, err
	}
	start := n.r.n
	// Blocks are decoded only within the bytes we agreed to read back, and
	// held only within the memory budget: a peer announcing a million rows
	// gets no more of our memory than either, whatever the block says.
	n.r.limit = start + maxBytes + 1
	mem := n.mem
	if mem == nil {
		mem = newMemBudget(n.c.RemoteAddr().String(), datastore.SessionMemory)
	}
	mark := mem.mark()
	n.r.mem = mem
	defer func() { n.r.limit, n.r.mem = 0, nil }()
	res := &result{}
	err := n.readReply(res, mem)
	res.bytes = n.r.n - start
	var se *ServerError
	switch {
	case err == nil:
		mem.reset(mark + res.held)
		return res, nil
	case errors.As(err, &se):
		mem.reset(mark)
		// The server's answer; but one raised before the server read the
		// rest of our query (a statement an old server cannot parse:
		// SHOW GRANTS on 18.16) leaves our trailing empty Data block for
		// the next query to trip on ("Unexpected packet Data received from
		// client"). The connection is dropped; the next query opens another.
		n.broken = true
		return nil, se
	case errors.Is(err, errReadBudget):
		mem.reset(mark + res.held)
		n.broken = true
		res.truncated = true
		return res, nil
	}
	mem.reset(mark)
	n.broken = true
	return nil, err
}

// maxLogBytes bounds the Log and ProfileEvents blocks of one answer.
const maxLogBytes = 16 << 20

// skipLogBlock reads past a Log block, which a server sends between data
// blocks when the profile sets send_logs_level (columns event_time,
// event_time_microseconds, host_name, query_id, thread_id, priority,
// source, text: InternalTextLogsQueue::getSampleBlock), or a ProfileEvents
// block. It is charged to mem while read and dropped at once, and its
// bytes are not counted against the query's read budget, which is the
// rows': a chatty profile must not make a small probe look cut short. An
// answer's logs are bounded by left instead.
func (n *nativeConn) skipLogBlock(mem *memBudget, left *int64) error {
	saved, start := n.r.limit, n.r.n
	n.r.limit = start + *left
	mark := mem.mark()
	_, err := readBlock(n.r)
	mem.reset(mark)
	used := n.r.n - start
	*left -= used
	if saved > 0 {
		n.r.limit = saved + used
	} else {
		n.r.limit = 0
	}
	if errors.Is(err, errReadBudget) {
		return fmt.Errorf("server logs over %d bytes in one answer: %w", maxLogBytes, errWireTooLarge)
	}
	return err
}

// maxExceptionBytes bounds one exception packet with its causes.
const maxExceptionBytes = 4 << 20

// readReply reads packets until the end of the query's stream, keeping the
// rows of its data blocks.
func (n *nativeConn) readReply(res *result, mem *memBudget) error {
	logLeft := int64(maxLogBytes)
	for {
		typ, err := n.r.uvarint()
		if err != nil {
			return err
		}
		switch typ {
		case serverLog, serverProfileEvents:
			if err := n.skipLogBlock(mem, &logLeft); err != nil {
				return err
			}
		case serverData, serverTotals, serverExtremes:
			mark := mem.mark()
			b, err := readBlock(n.r)
			if err != nil {
				return err
			}
			if typ != serverData {
				mem.reset(mark) // read to stay in step, not kept
				continue
			}
			// The rows keep the whole block, what it was charged included.
			res.held += mem.mark() - mark
			if err := res.add(b); err != nil {
				return err
			}
		case serverException:
			// An exception is the server's answer, not rows: it is read
			// under its own cap, outside the memory budget (its stack
			// trace is skipped, not held), so neither a long stack trace
			// nor a budget nearly spent can pass for a result cut short.
			n.r.limit, n.r.mem = n.r.n+maxExceptionBytes, nil
			e, err := readException(n.r)
			if errors.Is(err, errReadBudget) {
				return fmt.Errorf("exception over %d bytes: %w", maxExceptionBytes, errWireTooLarge)
			}
			if err != nil {
				return err
			}
			return e
		case serverProgress:
			if err := skipProgress(n.r, n.rev); err != nil {
				return err
			}
		case serverProfileInfo:
			if err := skipProfileInfo(n.r); err != nil {
				return err
			}
		case serverTableColumns:
			for range 2 {
				if err := n.r.skipStr(); err != nil {
					return err
				}
			}
		case serverEndOfStream:
			return nil
		default:
			return fmt.Errorf("unexpected packet %d from server", typ)
		}
	}
}
