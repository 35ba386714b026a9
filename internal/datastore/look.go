package datastore

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FirstLook is what one cheap look at an open port saw, shared by every
// driver, so that a port is routed to the drivers that can match it and a
// tarpit costs one timeout whatever the number of drivers.
type FirstLook struct {
	// Banner is what the server sent unasked before we spoke (at most a
	// few KB): MySQL's greeting, an SSH or SMTP banner; nil if none. A
	// banner slower than the wait for it arrives as the start of Reply:
	// drivers of protocols where the server speaks first read Greeting.
	Banner []byte
	// HTTP is set when the port answered an HTTP request.
	HTTP *HTTPLook
	// Reply is a non-HTTP answer to our HTTP request (at most a few KB):
	// PostgreSQL's ErrorResponse, a native protocol's exception.
	Reply []byte
	// TLS: the port completed a TLS handshake; the other fields are then
	// what was seen inside TLS.
	TLS  bool
	Cert *Cert
	// Silent: the port accepted, then said nothing to anything before the
	// deadline (a tarpit, or a firewall that accepts every connection).
	Silent bool
	// Closed: the server closed the connection without a word.
	Closed bool
	// Err is why there was nothing to look at: the connection was refused
	// or did not open within the timeout, or ctx ended first. The other
	// fields are then empty.
	Err error
}

// Greeting is what the server said first: its banner, or, when none came
// in time, the start of its reply to our request (a server that greets
// writes its greeting before it reads anything).
func (l FirstLook) Greeting() []byte {
	if l.Banner != nil {
		return l.Banner
	}
	return l.Reply
}

// HTTPLook is the start of an HTTP answer.
type HTTPLook struct {
	Status int
	Header http.Header // capped
	Body   []byte      // the first few KB
	// Truncated: the head or the body went past a cap; what is kept is
	// their start.
	Truncated bool
}

// LookWait is the longest Look waits for a banner before it speaks (and
// never more than half its timeout, so that the rest is left for the
// answer). It waits less where the connect was quick: a server that
// greets writes its banner as it accepts, so the banner follows the
// connect within about a round trip (MariaDB's greeting arrives in about
// 20 ms on loopback); Look waits four connect times, and at least
// minBannerWait. A plain HTTP service on loopback so costs tens of
// milliseconds, not LookWait. Variables so that tests can change them.
var (
	LookWait      = 700 * time.Millisecond
	minBannerWait = 60 * time.Millisecond
)

// TLSWait is the least a look's TLS handshake is given; it gets more
// where the connect was slow (ten connect times). Past it the port is
// taken not to speak TLS. A variable so that tests can change it.
var TLSWait = 2 * time.Second

func handshakeWait(rtt time.Duration) time.Duration { return max(TLSWait, 10*rtt) }

// bannerWait is how long to wait for a banner on a connection whose connect
// took rtt.
func bannerWait(rtt time.Duration) time.Duration {
	return min(LookWait, max(minBannerWait, 4*rtt))
}

// Once a peer has started talking, a pause this long without a byte ends
// what it says: a server that answers and then holds the connection open
// (ignoring "Connection: close", or a banner server waiting for us) costs
// the pause, not the timeout. A banner is written unasked in one go, so it
// arrives in one flight; an answer may be computed, so it gets longer.
var (
	bannerQuiet = 50 * time.Millisecond
	answerQuiet = 200 * time.Millisecond
)

// Caps on what a look holds, whatever the peer sends.
const (
	maxLookBytes   = 4 << 10 // a banner, a reply, an HTTP body
	maxHTTPHead    = 8 << 10 // status line and headers
	maxHTTPHeaders = 64
	maxHTTPName    = 256 // bytes of a header name
	maxHTTPValue   = 1 << 10
)

// LookUserAgent is what a look's HTTP request calls us, so that the
// owner of a server reading their logs knows who asked and why.
const LookUserAgent = "leakhound/0.1 (read-only exposure scanner)"

// Look takes one cheap look at ep, the open port every driver then judges
// from. It connects, waits up to LookWait for a banner, and if none came
// sends one HTTP "GET /" and reads the answer. If the answer says the port
// wants TLS (a TLS alert, a close without a word, an HTTP 400 that names
// HTTPS), it looks again inside TLS on a second connection.
//
// The whole look costs at most timeout (and ends with ctx): every read has
// a deadline within it, and what is held is capped (a few KB of banner,
// reply or body, 8 KB of HTTP head), whatever the peer sends. A tarpit
// costs one timeout and is reported Silent; it is not tried with TLS, which
// there would be no time left for.
func Look(ctx context.Context, ep Endpoint, timeout time.Duration) FirstLook {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	plain, spoke := lookOnce(ctx, ep, deadline, false)
	if !spoke || !wantsTLS(plain) || ctx.Err() != nil {
		return plain
	}
	if inner, _ := lookOnce(ctx, ep, deadline, true); inner.TLS {
		return inner
	}
	return plain
}

// wantsTLS reports whether a plaintext look that sent our request saw a
// port that expects TLS: a TLS alert record, a close on our request, or an
// HTTP server saying that plain HTTP was sent to its HTTPS port (nginx, Go
// and Apache do).
func wantsTLS(l FirstLook) bool {
	switch {
	case l.Err != nil:
		return false
	case l.Closed:
		return true
	case len(l.Reply) > 0:
		return l.Reply[0] == 0x15 // TLS alert
	case l.HTTP != nil && l.HTTP.Status == http.StatusBadRequest:
		b := bytes.ToLower(l.HTTP.Body)
		return bytes.Contains(b, []byte("https")) || bytes.Contains(b, []byte("ssl")) || bytes.Contains(b, []byte("tls"))
	}
	return false
}

// lookOnce makes one connection to ep, inside TLS if useTLS, and looks.
// spoke says our request was sent: no banner came, nor a close before it.
func lookOnce(ctx context.Context, ep Endpoint, deadline time.Time, useTLS bool) (out FirstLook, spoke bool) {
	var d net.Dialer
	dialed := time.Now()
	raw, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		return FirstLook{Err: err}, false
	}
	rtt := time.Since(dialed)
	defer raw.Close()
	raw.SetDeadline(deadline)
	// Reads below move the deadline; a cancelled ctx pulls it in.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c := raw
	if useTLS {
		// We assess the server, we do not trust it: its certificate is
		// recorded, not verified. Go caps what a handshake may hold.
		tc := tls.Client(raw, &tls.Config{
			InsecureSkipVerify: true,
			ServerName:         tlsName(ep.Host),
			MinVersion:         tls.VersionTLS10,
		})
		// A TLS server answers the ClientHello at once; a plaintext one
		// that reads lines (Redis) waits for a line end that never comes,
		// and would cost the whole timeout.
		hs := time.Now().Add(handshakeWait(rtt))
		if hs.After(deadline) {
			hs = deadline
		}
		raw.SetDeadline(hs)
		if err := tc.HandshakeContext(ctx); err != nil {
			return FirstLook{Err: fmt.Errorf("TLS handshake: %w", err)}, false
		}
		raw.SetDeadline(deadline)
		out.TLS = true
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			out.Cert = CertOf(pc[0])
		}
		c = tc
	}
	r := &lookReader{ctx: ctx, c: c, deadline: deadline}

	// A banner: what the server says before we do.
	wait := min(bannerWait(rtt), time.Until(deadline)/2)
	banner, closed := r.collect(time.Now().Add(wait), bannerQuiet, func([]byte) int { return maxLookBytes })
	switch {
	case len(banner) > 0:
		out.Banner = banner
		return out, false
	case closed:
		out.Closed = true
		return out, false
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		out.Err = ctx.Err()
		return out, false
	}

	// No banner: ask as a browser would.
	c.SetWriteDeadline(deadline)
	if _, err := io.WriteString(c, httpRequest(ep, useTLS)); err != nil {
		var ne net.Error
		switch {
		case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
			out.Err = ctx.Err()
		case errors.As(err, &ne) && ne.Timeout():
			out.Silent = true // no time left to speak
		default:
			out.Closed = true
		}
		return out, true
	}
	answer, closed := r.collect(deadline, answerQuiet, answerLimit())
	switch {
	case len(answer) == 0 && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		out.Err = ctx.Err()
	case len(answer) == 0 && closed:
		out.Closed = true
	case len(answer) == 0:
		out.Silent = true
	default:
		if h, ok := parseHTTP(answer); ok {
			out.HTTP = h
		} else {
			out.Reply = bytes.Clone(answer[:min(len(answer), maxLookBytes)])
		}
	}
	return out, true
}

// tlsName is the name to send in SNI: the host if it is a name.
func tlsName(host string) string {
	if host == "" || net.ParseIP(host) != nil || !validHost(host) {
		return ""
	}
	return host
}

// httpRequest is the one request a look sends.
func httpRequest(ep Endpoint, useTLS bool) string {
	host := ep.Host
	if !validHost(host) {
		// A name holding spaces or line breaks would let whoever chose it
		// write our request; the address is what we connected to anyway.
		host = ep.IP.String()
	}
	defaultPort := 80
	if useTLS {
		defaultPort = 443
	}
	if ep.Port != defaultPort {
		host = net.JoinHostPort(host, strconv.Itoa(ep.Port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + LookUserAgent +
		"\r\nAccept: */*\r\nConnection: close\r\n\r\n"
}

// validHost reports whether h can go into a Host header as it is.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>\^{|}/?#@[]%`+"`", c) >= 0 {
			return false
		}
	}
	return true
}

// lookReader reads a connection within a look's deadline.
type lookReader struct {
	ctx      context.Context
	c        net.Conn
	deadline time.Time
}

// collect reads until limit(bytes held) bytes are held, the peer closes (or
// the connection fails), or a deadline passes: firstBy for the first byte,
// then quiet after each byte, never past the look's deadline. closed says
// the peer ended the connection.
func (r *lookReader) collect(firstBy time.Time, quiet time.Duration, limit func([]byte) int) (buf []byte, closed bool) {
	var chunk [1 << 10]byte
	for {
		want := limit(buf)
		if len(buf) >= want {
			return buf, false
		}
		by := firstBy
		if len(buf) > 0 {
			by = time.Now().Add(quiet)
		}
		if by.After(r.deadline) {
			by = r.deadline
		}
		r.c.SetReadDeadline(by)
		if r.ctx.Err() != nil {
			// Lost to the cancellation's deadline, which we just moved.
			return buf, false
		}
		n, err := r.c.Read(chunk[:min(len(chunk), want-len(buf))])
		buf = append(buf, chunk[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return buf, false
			}
			// EOF, a reset, or bytes that are not TLS inside TLS: the
			// conversation is over either way.
			return buf, true
		}
	}
}

// answerLimit says how many bytes of an answer to our request to read,
// given what has come: 4 KB of anything but HTTP; of HTTP, its head (at
// most 8 KB) and the first 4 KB of its body, or less when the head says
// the body is shorter.
func answerLimit() func([]byte) int {
	var head []byte // once complete
	var framing bodyFraming
	return func(b []byte) int {
		if !mayBeHTTP(b) {
			return maxLookBytes
		}
		if head == nil {
			h := headEnd(b)
			if h < 0 {
				return maxHTTPHead
			}
			head = b[:h]
			framing = framingOf(head)
		}
		h := len(head)
		switch {
		case framing.noBody:
			return h
		case framing.length >= 0:
			return h + int(min(framing.length, maxLookBytes))
		case framing.chunked:
			if _, done := dechunk(b[h:]); done {
				return len(b)
			}
		}
		return h + maxLookBytes
	}
}

// mayBeHTTP reports whether b is, or may become, an HTTP answer.
func mayBeHTTP(b []byte) bool {
	const p = "HTTP/"
	if len(b) < len(p) {
		return strings.HasPrefix(p, string(b))
	}
	return string(b[:len(p)]) == p
}

// headEnd is the length of the HTTP head at the start of b, with its blank
// line, or -1 if b does not hold all of it within maxHTTPHead.
func headEnd(b []byte) int {
	b = b[:min(len(b), maxHTTPHead)]
	crlf, lf := bytes.Index(b, []byte("\r\n\r\n")), bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return crlf + 4
	case lf >= 0:
		return lf + 2
	}
	return -1
}

// bodyFraming is how an HTTP head says its body ends.
type bodyFraming struct {
	status  int
	length  int64 // Content-Length, -1 if none
	chunked bool
	noBody  bool // 1xx, 204, 304
}

func framingOf(head []byte) bodyFraming {
	l, ok := parseHead(head)
	if !ok {
		return bodyFraming{length: -1}
	}
	return l.framing()
}

func (l *HTTPLook) framing() bodyFraming {
	f := bodyFraming{status: l.Status, length: -1}
	f.noBody = l.Status < 200 || l.Status == http.StatusNoContent || l.Status == http.StatusNotModified
	if te := l.Header.Values("Transfer-Encoding"); len(te) > 0 {
		f.chunked = strings.Contains(strings.ToLower(te[len(te)-1]), "chunked")
	}
	if cl := l.Header.Get("Content-Length"); cl != "" && !f.chunked {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			f.length = n
		}
	}
	return f
}

// parseHTTP reads an HTTP answer's start: its status line, its headers (at
// most maxHTTPHeaders, each value cut at maxHTTPValue) and the first 4 KB
// of its body, de-chunked. ok is false if b does not start with a status
// line. It tolerates what servers send (bare LF line ends, a head cut at
// our cap, junk lines), since it only routes a port; it never holds more
// than the caps, whatever b holds.
func parseHTTP(b []byte) (*HTTPLook, bool) {
	h := headEnd(b)
	var head, body []byte
	cut := false
	if h < 0 {
		// The head went past its cap (or the peer stopped): keep its
		// whole lines.
		head = b[:min(len(b), maxHTTPHead)]
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
			head = head[:i+1]
		}
		cut = true
	} else {
		head, body = b[:h], b[h:]
	}
	l, ok := parseHead(head)
	if !ok {
		return nil, false
	}
	l.Truncated = l.Truncated || cut
	if cut {
		return l, true
	}
	f := l.framing()
	switch {
	case f.noBody:
		body = nil
	case f.chunked:
		var done bool
		body, done = dechunk(body)
		if !done && len(body) >= maxLookBytes {
			l.Truncated = true
		}
	case f.length >= 0:
		if int64(len(body)) > f.length {
			body = body[:f.length]
		} else if int64(len(body)) < f.length {
			l.Truncated = true
		}
	default:
		// Ended by the close: a body that filled the cap was cut there.
		l.Truncated = l.Truncated || len(body) >= maxLookBytes
	}
	if len(body) > maxLookBytes {
		body, l.Truncated = body[:maxLookBytes], true
	}
	if len(body) > 0 {
		l.Body = bytes.Clone(body)
	}
	return l, true
}

// parseHead reads a status line and headers.
func parseHead(head []byte) (*HTTPLook, bool) {
	lines := strings.Split(string(head), "\n")
	status := strings.TrimSuffix(lines[0], "\r")
	proto, rest, _ := strings.Cut(status, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/") || len(code) != 3 {
		return nil, false
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 {
		return nil, false
	}
	l := &HTTPLook{Status: n, Header: http.Header{}}
	count := 0
	for _, line := range lines[1:] {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) {
			continue // junk, or a folded line
		}
		if count == maxHTTPHeaders || len(name) > maxHTTPName {
			l.Truncated = true
			continue
		}
		value = strings.Trim(value, " \t")
		if len(value) > maxHTTPValue {
			value, l.Truncated = value[:maxHTTPValue], true
		}
		l.Header.Add(name, value)
		count++
	}
	return l, true
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// dechunk decodes as much of a chunked body as b holds, at most
// maxLookBytes of it. done: the last chunk was seen, or the cap reached.
func dechunk(b []byte) (body []byte, done bool) {
	for len(body) < maxLookBytes {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return body, false
		}
		line := strings.TrimSpace(string(b[:i]))
		line, _, _ = strings.Cut(line, ";") // chunk extensions
		size, err := strconv.ParseUint(strings.TrimSpace(line), 16, 32)
		if err != nil {
			return body, true // not chunked after all: what came is all we take
		}
		if size == 0 {
			return body, true
		}
		b = b[i+1:]
		take := int(min(size, uint64(len(b)), uint64(maxLookBytes-len(body))))
		body = append(body, b[:take]...)
		if uint64(take) < size {
			return body, len(body) >= maxLookBytes
		}
		b = bytes.TrimPrefix(b[take:], []byte("\r"))
		if len(b) == 0 {
			return body, false
		}
		b = bytes.TrimPrefix(b, []byte("\n"))
	}
	return body, true
}
