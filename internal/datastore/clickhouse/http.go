package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// httpConn runs queries over ClickHouse's HTTP interface. Only GET is ever
// used: ClickHouse itself refuses writes on GET (it forces readonly).
type httpConn struct {
	addr    string // ip:port
	base    string // scheme://ip:port/
	client  *http.Client
	user    string
	timeout time.Duration
	// mem is the session's memory budget, which every answer is charged
	// to; nil gives each query a budget of its own.
	mem *memBudget
}

const maxHTTPHeaderBytes = 64 << 10

// maxHTTPErrorBody bounds the body of an answer that is not 200 OK: it
// holds an exception, not rows.
const maxHTTPErrorBody = 64 << 10

func newHTTPConn(addr string, useTLS bool, user string, timeout time.Duration) *httpConn {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, // we assess the server, we do not trust it
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxHTTPHeaderBytes,
		DisableCompression:     true,
		MaxIdleConnsPerHost:    2,
		Proxy:                  nil, // a scanner must reach the target itself, never via an environment proxy
	}
	return &httpConn{
		addr:    addr,
		base:    scheme + "://" + addr + "/",
		client:  &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		user:    user,
		timeout: timeout,
	}
}

func (h *httpConn) close() error {
	h.client.CloseIdleConnections()
	return nil
}

// httpResponse is a bounded read of one response.
type httpResponse struct {
	status    int
	header    http.Header
	body      []byte
	truncated bool
	cert      *datastore.Cert // the server's certificate, over TLS
}

// roundTrip sends one GET and hands the response to read, all within the
// connection's timeout.
func (h *httpConn) roundTrip(ctx context.Context, rawQuery string, read func(*http.Response) error) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"?"+rawQuery, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	if h.user != "" {
		// Headers rather than URL parameters keep the user out of the
		// server's access logs.
		req.Header.Set("X-ClickHouse-User", h.user)
		req.Header.Set("X-ClickHouse-Key", "")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds our query: say what failed, not where
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no HTTP answer within %s: %w", h.timeout, err)
		}
		return err
	}
	defer resp.Body.Close()
	return read(resp)
}

func (h *httpConn) get(ctx context.Context, rawQuery string, maxBytes int64) (*httpResponse, error) {
	var out *httpResponse
	err := h.roundTrip(ctx, rawQuery, func(resp *http.Response) error {
		var err error
		out, err = readResponse(resp, maxBytes)
		return err
	})
	return out, err
}

// readResponse reads at most maxBytes of resp's body.
func readResponse(resp *http.Response, maxBytes int64) (*httpResponse, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response body: %w", err)
	}
	out := &httpResponse{status: resp.StatusCode, header: resp.Header, body: body}
	if int64(len(body)) > maxBytes {
		out.body, out.truncated = body[:maxBytes], true
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		out.cert = datastore.CertOf(resp.TLS.PeerCertificates[0])
	}
	return out, nil
}

// query runs one SELECT and returns its rows, parsed as they arrive: the
// body is never held whole, only the rows, charged to the memory budget.
func (h *httpConn) query(ctx context.Context, sql string, settings []setting, maxBytes int64) (*result, error) {
	v := url.Values{}
	v.Set("query", sql+"\nFORMAT TabSeparated")
	for _, s := range settings {
		v.Set(s.name, s.value)
	}
	mem := h.mem
	if mem == nil {
		mem = newMemBudget(h.addr, datastore.SessionMemory)
	}
	mark := mem.mark()
	var res *result
	err := h.roundTrip(ctx, v.Encode(), func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			r, err := readResponse(resp, maxHTTPErrorBody)
			if err != nil {
				return err
			}
			if e := parseHTTPException(r); e != nil {
				return e
			}
			return fmt.Errorf("HTTP %d: %s", r.status, printable(r.body, 200))
		}
		var err error
		res, err = readTSV(resp.Body, maxBytes, mem, resp.Header.Get(exceptionTagHeader))
		return err
	})
	if err != nil {
		mem.reset(mark)
		return nil, err
	}
	mem.reset(mark + res.held)
	return res, nil
}

// exceptionRe matches ClickHouse's text exception, old and new style:
// "Code: 194, e.displayText() = DB::Exception: Password required…" and
// "Code: 516. DB::Exception: default: Authentication failed… (AUTHENTICATION_FAILED) (version …)".
var exceptionRe = regexp.MustCompile(`(?m)^Code: (\d{1,6})[.,] (?:e\.displayText\(\) = )?DB::Exception: (.*)`)

func parseHTTPException(resp *httpResponse) *ServerError {
	m := exceptionRe.FindSubmatch(resp.body)
	if m == nil {
		if c := resp.header.Get("X-ClickHouse-Exception-Code"); c != "" {
			code, err := strconv.Atoi(c)
			if err == nil {
				return &ServerError{Code: code, Message: printable(resp.body, 300)}
			}
		}
		return nil
	}
	code, _ := strconv.Atoi(string(m[1]))
	msg := string(m[2])
	msg = strings.TrimSuffix(msg, ", e.what() = DB::Exception")
	if i := strings.Index(msg, " (version "); i > 0 {
		msg = msg[:i]
	}
	return &ServerError{Code: code, Message: printable([]byte(msg), 300)}
}

// parseTSV splits ClickHouse TabSeparated output into unescaped fields. A
// truncated body loses its last, partial line.
func parseTSV(body []byte, truncated bool) (*result, error) {
	return scanTSV(bytes.NewReader(body), func() bool { return truncated }, newMemBudget("the peer", datastore.SessionMemory), "")
}

// readTSV parses at most maxBytes of body, charging mem for what it keeps.
// tag is the answer's X-ClickHouse-Exception-Tag, "" when it has none.
func readTSV(body io.Reader, maxBytes int64, mem *memBudget, tag string) (*result, error) {
	more := func() bool { // past maxBytes: is there more?
		var b [1]byte
		n, _ := io.ReadFull(body, b[:])
		return n == 1
	}
	return scanTSV(io.LimitReader(body, maxBytes), more, mem, tag)
}

// ClickHouse 25.11 and later send a random tag in this header on every
// answer, and an exception raised after the 200 header was sent ends the
// body with an envelope naming that tag (docs/en/interfaces/http.md,
// "HTTP response codes caveats"):
//
//	\r\n__exception__\r\n<TAG>\r\n<error message>\n<message_length> <TAG>\r\n__exception__\r\n
//
// The whole envelope is at most 16 KiB. TabSeparated escapes a carriage
// return in a value, so a raw one opens the envelope.
const (
	exceptionTagHeader = "X-ClickHouse-Exception-Tag"
	exceptionMarker    = "__exception__"
	maxExceptionBlock  = 16 << 10
)

// taggedException reads what follows the carriage return that opened an
// envelope in a tagged answer, at most a little more than the envelope's
// bound, and returns the server's exception. It always returns an error:
// an answer whose stream carries an envelope is never a complete result.
func taggedException(br *bufio.Reader, tag string) error {
	// A read error past the envelope (the server may end the stream
	// without its last chunk) leaves what was read to judge.
	rest, _ := io.ReadAll(io.LimitReader(br, maxExceptionBlock+1024))
	cut := errors.New("the server raised an exception mid-stream (X-ClickHouse-Exception-Tag) and its exception block was cut or malformed")
	head := exceptionMarker + "\r\n" + tag + "\r\n"
	if !bytes.HasPrefix(rest, []byte(head)) {
		return cut
	}
	body := rest[len(head):]
	end := bytes.LastIndex(body, []byte(" "+tag+"\r\n"+exceptionMarker))
	if end < 0 {
		return cut
	}
	nl := bytes.LastIndexByte(body[:end], '\n') // the message ends before its length
	if nl < 0 {
		return cut
	}
	msg := bytes.TrimRight(body[:nl], "\r\n")
	if m := exceptionRe.FindSubmatch(msg); m != nil {
		code, _ := strconv.Atoi(string(m[1]))
		return &ServerError{Code: code, Message: trimVersion(string(m[2]))}
	}
	return &ServerError{Message: printable(msg, 300)}
}

// trimVersion drops the server's version and build from an exception
// message, bounded and printable.
func trimVersion(msg string) string {
	msg = strings.TrimSuffix(msg, ", e.what() = DB::Exception")
	if i := strings.Index(msg, " (version "); i > 0 {
		msg = msg[:i]
	}
	return printable([]byte(msg), 300)
}

// scanTSV parses TabSeparated lines as they are read from r, keeping at
// most queryRowCap rows and maxBlockCells fields, and charging mem for
// each row before it is allocated. At the end of r, more says whether r was
// cut short, and so whether a last line without its newline is partial.
//
// With tag set (the answer carried X-ClickHouse-Exception-Tag), a raw
// carriage return, which TabSeparated always escapes in a value, opens the
// server's exception envelope: what was read so far is dropped and the
// server's error returned (or, if the envelope is not one, an error).
func scanTSV(r io.Reader, more func() bool, mem *memBudget, tag string) (*result, error) {
	res := &result{}
	br := bufio.NewReaderSize(r, 64<<10)
	cells := 0
	var long []byte // a line longer than br's buffer, as it is assembled
	extend := func(chunk []byte) error {
		if need := len(long) + len(chunk); need > cap(long) {
			grown := max(need, 2*cap(long))
			if err := mem.charge(int64(grown)); err != nil {
				return err
			}
			long = append(make([]byte, 0, grown), long...)
		}
		long = append(long, chunk...)
		return nil
	}
	var suspect []byte // the last line, if it may be an exception the server appended
	for {
		chunk, err := br.ReadSlice('\n')
		res.bytes += int64(len(chunk))
		if errors.Is(err, bufio.ErrBufferFull) {
			if err := extend(chunk); err != nil {
				return nil, err
			}
			continue
		}
		line := chunk
		if len(long) > 0 {
			if err := extend(chunk); err != nil {
				return nil, err
			}
			line = long
		}
		if err == io.EOF {
			if more() {
				res.truncated = true
				break // the last line is partial
			}
			if len(line) == 0 {
				break
			}
		} else if err != nil {
			return nil, fmt.Errorf("reading the response body: %w", err)
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		long = long[:0]
		if tag != "" && bytes.IndexByte(line, '\r') >= 0 {
			if err := mem.charge(maxExceptionBlock + 1024); err != nil { // what taggedException may read
				return nil, err
			}
			return nil, taggedException(br, tag)
		}
		if len(res.rows) >= queryRowCap || cells >= maxBlockCells {
			res.truncated = true
			return res, nil // what follows is not read, so nothing follows the last row kept
		}
		// At most maxColumns fields a row: a line of tabs is not a million
		// string headers. The fields are counted before the row is
		// charged and allocated.
		nf := min(bytes.Count(line, []byte{'\t'})+1, maxColumns)
		cost := rowCost(nf) + int64(len(line)-nf+1) // unescaping never lengthens a field
		if err := mem.charge(cost); err != nil {
			return nil, err
		}
		cells += nf
		row := make([]string, nf)
		rest := line
		for j := range nf - 1 {
			i := bytes.IndexByte(rest, '\t')
			row[j], rest = unescapeTSV(rest[:i]), rest[i+1:]
		}
		row[nf-1] = unescapeTSV(rest)
		res.rows = append(res.rows, row)
		res.held += cost
		suspect = suspect[:0]
		// Before 25.11 (and on 25.11+ with tagging off) the exception
		// text follows the rows on a line of its own.
		if bytes.HasPrefix(line, []byte("Code: ")) && len(line) <= maxHTTPErrorBody {
			suspect = append(suspect, line...)
		}
		if err == io.EOF {
			break
		}
	}
	if len(suspect) > 0 && (bytes.HasSuffix(suspect, []byte("e.what() = DB::Exception")) || bytes.Contains(suspect, []byte(" (version "))) {
		// An exception after the 200 header: the query failed midway.
		// The suffix tells it from a stored value that merely starts so.
		if m := exceptionRe.FindSubmatch(suspect); m != nil {
			code, _ := strconv.Atoi(string(m[1]))
			return nil, &ServerError{Code: code, Message: trimVersion(string(m[2]))}
		}
	}
	return res, nil
}

func unescapeTSV(f []byte) string {
	if bytes.IndexByte(f, '\\') < 0 {
		return string(f)
	}
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			out = append(out, c)
			continue
		}
		i++
		switch f[i] {
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case '0':
			out = append(out, 0)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'N':
			out = append(out, `\N`...)
		default:
			out = append(out, f[i])
		}
	}
	return string(out)
}

// printable returns at most n bytes of b with control bytes replaced, for
// error messages that quote what a peer sent.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
}
