package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Servers newer than the lab's 18.16, tested against transcripts built
// from ClickHouse's own documentation and source: no newer server runs
// here, so these are fake peers speaking what the documents say.

// ClickHouse 25.11's mid-stream exception, as docs/en/interfaces/http.md
// ("HTTP response codes caveats") shows it for
// `SELECT sleepEachRow(0.001), throwIf(number=2) FROM numbers(5)`: the
// rows already sent, then
// \r\n__exception__\r\n<TAG>\r\n<message>\n<length> <TAG>\r\n__exception__\r\n,
// TAG being the answer's X-ClickHouse-Exception-Tag.
const (
	docTag     = "rumfyutuqkncbgau"
	docMessage = "Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero: while executing 'FUNCTION throwIf(equals(__table1.number, 2_UInt8) :: 1) -> throwIf(equals(__table1.number, 2_UInt8)) UInt8 : 0'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 25.11.1.1)"
	docRows    = "0\t0\n0\t0\n"
)

func docEnvelope(tag string) string {
	return "\r\n" + exceptionMarker + "\r\n" + tag + "\r\n" + docMessage + "\n" + fmt.Sprint(len(docMessage)) + " " + tag + "\r\n" + exceptionMarker + "\r\n"
}

// httpAnswer serves body with a 200 and, if tag is set, the tag header,
// flushing the rows before the envelope as a streaming server does.
func httpAnswer(t *testing.T, tag string, parts ...string) *httpConn {
	t.Helper()
	srv := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/tab-separated-values; charset=UTF-8")
		if tag != "" {
			w.Header().Set(exceptionTagHeader, tag)
		}
		for _, p := range parts {
			w.Write([]byte(p))
			w.(http.Flusher).Flush()
		}
	}))
	h := newHTTPConn(srv.Listener.Addr().String(), false, "", 5*time.Second)
	t.Cleanup(func() { h.close() })
	return h
}

// wantThrowIf checks the answer is the server's error 395, never rows.
func wantThrowIf(t *testing.T, what string, res *result, err error) {
	t.Helper()
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 395 || !strings.HasPrefix(se.Message, "Value passed to 'throwIf' function is non-zero") {
		t.Fatalf("%s = %+v, %v, want ClickHouse error 395 (throwIf)", what, res, err)
	}
	if strings.Contains(se.Message, "version") || strings.Contains(se.Message, docTag) {
		t.Errorf("%s: error message %q keeps the version or the tag", what, se.Message)
	}
}

func TestHTTPTaggedExceptionAfterRows(t *testing.T) {
	// 25.11.1.1: two rows sent, then the exception.
	h := httpAnswer(t, docTag, docRows, docEnvelope(docTag))
	res, err := h.query(context.Background(), "SELECT 1", nil, 1<<20)
	wantThrowIf(t, "a 25.11 answer with a tagged exception after its rows", res, err)
}

func TestHTTPTaggedExceptionAfterPartialRow(t *testing.T) {
	// The server flushed half a row before the exception.
	h := httpAnswer(t, docTag, docRows+"0\t", docEnvelope(docTag))
	res, err := h.query(context.Background(), "SELECT 1", nil, 1<<20)
	wantThrowIf(t, "a 25.11 answer with a tagged exception after half a row", res, err)
}

func TestHTTPTaggedExceptionStreamCut(t *testing.T) {
	// The server sends the envelope and drops the connection without the
	// chunked body's last chunk (what clients of 25.11 see when it gives
	// up on a committed response).
	ln := loopbackListener(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(hangGuard))
		br := bufio.NewReader(c)
		for { // the request's headers
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		body := docRows + docEnvelope(docTag)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/tab-separated-values; charset=UTF-8\r\n%s: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", exceptionTagHeader, docTag, len(body), body)
	}()
	h := newHTTPConn(ln.Addr().String(), false, "", 5*time.Second)
	defer h.close()
	res, err := h.query(context.Background(), "SELECT 1", nil, 1<<20)
	wantThrowIf(t, "a 25.11 answer cut after its tagged exception", res, err)
}

func TestHTTPTaggedAnswerComplete(t *testing.T) {
	// 25.11 sends the tag on every answer: one without an envelope is
	// complete.
	h := httpAnswer(t, docTag, "a\tb\n", "c\\r\td\n")
	res, err := h.query(context.Background(), "SELECT 1", nil, 1<<20)
	if err != nil || res.truncated || len(res.rows) != 2 || res.rows[1][0] != "c\r" {
		t.Fatalf("a tagged answer without exception = %+v, %v, want its 2 rows", res, err)
	}
}

func TestHTTPTaggedEnvelopeMalformed(t *testing.T) {
	for name, tail := range map[string]string{
		"another tag":       docEnvelope("aaaaaaaaaaaaaaaa"),
		"cut in the middle": docEnvelope(docTag)[:60],
		"a bare CR":         "\r\n",
		"over 16 KiB":       "\r\n" + exceptionMarker + "\r\n" + docTag + "\r\n" + strings.Repeat("x", 40<<10),
	} {
		h := httpAnswer(t, docTag, docRows, tail)
		res, err := h.query(context.Background(), "SELECT 1", nil, 1<<20)
		if err == nil {
			t.Errorf("a tagged answer ending in %s = %d rows, want an error, not a result", name, len(res.rows))
		}
	}
}

func TestHTTPUntaggedExceptionAfterRows(t *testing.T) {
	// Before 25.11 (here 24.3.2.23, the docs' example format) the text
	// follows the rows on a line of its own, with no header to say so.
	h := httpAnswer(t, "", docRows, "Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero: while executing 'FUNCTION throwIf(equals(number, 2) :: 1) -> throwIf(equals(number, 2)) UInt8 : 0'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 24.3.2.23 (official build))\n")
	res, err := h.query(context.Background(), "SELECT 1", nil, 1<<20)
	wantThrowIf(t, "a 24.3 answer with the exception after its rows", res, err)
}

// logPacket is a Log packet as a server sends it when the profile sets
// send_logs_level: the columns of InternalTextLogsQueue::getSampleBlock
// (src/Interpreters/InternalTextLogsQueue.cpp, 20.x to 25.x), one row of
// each with text of n bytes.
func logPacket(rows int, n int) []byte {
	w := &wireWriter{}
	w.uvarint(serverLog)
	w.str("")
	w.uvarint(1)
	w.u8(0)
	w.uvarint(2)
	w.i32(-1)
	w.uvarint(0)
	w.uvarint(8)
	w.uvarint(uint64(rows))
	col := func(name, typ string, each func()) {
		w.str(name)
		w.str(typ)
		for range rows {
			each()
		}
	}
	col("event_time", "DateTime", func() { w.b = append(w.b, 0x80, 0x5e, 0x6a, 0x67) })
	col("event_time_microseconds", "UInt32", func() { w.b = append(w.b, 1, 0, 0, 0) })
	col("host_name", "String", func() { w.str("ch-1") })
	col("query_id", "String", func() { w.str("5abe861c-239c-467f-b955-8a201abb8b7f") })
	col("thread_id", "UInt64", func() { w.b = append(w.b, 7, 0, 0, 0, 0, 0, 0, 0) })
	col("priority", "Int8", func() { w.u8(6) })
	col("source", "String", func() { w.str("executeQuery") })
	col("text", "String", func() { w.str(strings.Repeat("l", n)) })
	return w.b
}

// profileEventsPacket is a ProfileEvents packet (type 14; columns of
// ProfileEvents::getSampleBlock: host_name, current_time, thread_id, type,
// name, value), which a server sends to clients of revision 54451 and
// later only.
func profileEventsPacket() []byte {
	w := &wireWriter{}
	w.uvarint(serverProfileEvents)
	w.str("")
	w.uvarint(0)
	w.uvarint(6)
	w.uvarint(1)
	for _, c := range []struct {
		name, typ string
		v         []byte
	}{
		{"host_name", "String", []byte("\x04ch-1")},
		{"current_time", "DateTime", []byte{0, 0, 0, 0}},
		{"thread_id", "UInt64", make([]byte, 8)},
		{"type", "Int8", []byte{1}},
		{"name", "String", []byte("\x0bSelectQuery")},
		{"value", "Int64", []byte{1, 0, 0, 0, 0, 0, 0, 0}},
	} {
		w.str(c.name)
		w.str(c.typ)
		w.b = append(w.b, c.v...)
	}
	return w.b
}

func TestNativeLogBlocksBetweenData(t *testing.T) {
	data := func(v ...string) []byte {
		b := stringBlock([]string{"v"}, oneColumn(v...)...)
		return b[:len(b)-1] // without its end of stream
	}
	// 40 Log blocks of 100 KiB each around two data blocks: 4 MB of logs
	// against a budget of 1 MiB. Held, they would exceed it; read past,
	// they cost nothing once read.
	var reply []byte
	for range 20 {
		reply = append(reply, logPacket(1, 100<<10)...)
	}
	reply = append(reply, data("a", "b")...)
	for range 20 {
		reply = append(reply, logPacket(1, 100<<10)...)
	}
	reply = append(reply, data("c")...)
	reply = append(reply, profileEventsPacket()...)
	reply = append(reply, endOfStream()...)
	srv := startFake(t, sessionServer(func([]byte) []byte { return reply }))
	n, err := dialNative(context.Background(), srv.addr(), false, probeUser, "", 5*time.Second)
	if err != nil {
		t.Fatalf("dialNative = %v", err)
	}
	defer n.close()
	n.mem = newMemBudget(srv.addr(), 1<<20)
	// A probe's read budget is 64 KiB: the logs, 60 times that, do not
	// count against it, or every probe would look cut short.
	res, err := n.query(context.Background(), "SELECT v FROM t", nil, 64<<10)
	if err != nil {
		t.Fatalf("a query answered with Log blocks between its data blocks = %v, want its rows", err)
	}
	if got := fmt.Sprint(res.rows); got != "[[a] [b] [c]]" || res.truncated {
		t.Errorf("rows = %s (truncated %v), want [[a] [b] [c]], complete", got, res.truncated)
	}
	if held := n.mem.mark(); held > 64<<10 {
		t.Errorf("after the query the session holds %d bytes, want only its 3 rows (Log blocks dropped)", held)
	}
	// The connection stays in step: a second query is answered.
	if _, err := n.query(context.Background(), "SELECT v FROM t", nil, 64<<10); err != nil {
		t.Errorf("the next query on the connection = %v", err)
	}
}

// Logs are bounded on their own: an answer of endless Log blocks ends in
// an error once they pass maxLogBytes, never in a result.
func TestNativeLogBlocksBounded(t *testing.T) {
	var reply []byte
	for range maxLogBytes/(1<<20) + 2 {
		reply = append(reply, logPacket(1, 1<<20)...)
	}
	reply = append(reply, stringBlock([]string{"v"}, []string{"a"})...)
	srv := startFake(t, sessionServer(func([]byte) []byte { return reply }))
	n, err := dialNative(context.Background(), srv.addr(), false, probeUser, "", 5*time.Second)
	if err != nil {
		t.Fatalf("dialNative = %v", err)
	}
	defer n.close()
	if res, err := n.query(context.Background(), "SELECT v FROM t", nil, 64<<10); err == nil {
		t.Fatalf("a query answered with %d MiB of Log blocks = %d rows, want an error", len(reply)>>20, len(res.rows))
	}
}

// rbacServer answers like a 20.x+ server whose profile is readonly=0,
// allow_ddl=1 (so the settings alone say DDL is allowed), running
// numbers() and refusing file() for want of a grant, and answering SHOW
// GRANTS with grants (nil: refusing it as 18.16 does, code 62).
func rbacServer(t *testing.T, grants []string) *session {
	t.Helper()
	return nativeSession(t, 5*time.Second, func(q []byte) []byte {
		switch {
		case has(q, "name IN ('readonly', 'allow_ddl')"):
			return stringBlock([]string{"name", "value"}, []string{"readonly", "0"}, []string{"allow_ddl", "1"})
		case has(q, "name = 'readonly'"):
			if has(q, "\x08readonly\x00\x012") {
				return stringBlock([]string{"value"}, []string{"2"})
			}
			return stringBlock([]string{"value"}, []string{"1"})
		case has(q, "numbers(1)"):
			return stringBlock([]string{"c"}, []string{"1"})
		case has(q, "FROM file("):
			return exceptionPacket(497, "DB::Exception", "DB::Exception: app: Not enough privileges. To execute this query, it's necessary to have the grant CREATE TEMPORARY TABLE, FILE ON *.*")
		case has(q, "SHOW GRANTS"):
			if grants == nil {
				return exceptionPacket(62, "DB::Exception", "DB::Exception: Syntax error: failed at position 1: SHOW GRANTS. Expected one of: TABLES, DATABASES, PROCESSLIST")
			}
			return stringBlock([]string{"GRANTS FOR app"}, oneColumn(grants...)...)
		}
		return empty()
	})
}

// capEvidence is the evidence of p's capability id.
func capEvidence(p datastore.Privileges, id string) string {
	for _, c := range p.Capabilities {
		if c.ID == id {
			return c.Evidence
		}
	}
	return ""
}

func TestPrivilegesFromGrants(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		grants                []string
		ddl, file, reach      datastore.Verdict
		evidence, ddlEvidence string
	}{
		{
			// 18.16 (the lab) has no RBAC: settings and probes alone.
			name: "18.16, no SHOW GRANTS", grants: nil,
			ddl: datastore.Yes, file: datastore.No, reach: datastore.Yes,
			ddlEvidence: "profile readonly=0, allow_ddl=1",
		},
		{
			// 23.8: a user granted SELECT on one database only. The
			// profile allows DDL; the grants do not.
			name: "23.8, SELECT only", grants: []string{"GRANT SELECT ON aiapp.* TO analyst"},
			ddl: datastore.No, file: datastore.No, reach: datastore.No,
			evidence: "SHOW GRANTS: GRANT SELECT ON aiapp.* TO analyst", ddlEvidence: "no grant of CREATE, ALTER, DROP or INSERT",
		},
		{
			// 24.3: INSERT on a database and the url() source.
			name:   "24.3, INSERT and URL",
			grants: []string{"GRANT SELECT(id, email), INSERT ON aiapp.* TO app", "GRANT CREATE TEMPORARY TABLE, URL ON *.* TO app"},
			ddl:    datastore.Yes, file: datastore.No, reach: datastore.Yes,
			evidence: "GRANT CREATE TEMPORARY TABLE, URL ON *.* TO app", ddlEvidence: "granted INSERT",
		},
		{
			// 23.8's default user, unrestricted.
			name: "23.8, ALL", grants: []string{"GRANT ALL ON *.* TO default WITH GRANT OPTION"},
			ddl: datastore.Yes, file: datastore.No, reach: datastore.Yes,
			ddlEvidence: "granted ALL",
		},
		{
			// 24.3: a role may carry what the user's own lines lack.
			name:   "24.3, a role granted",
			grants: []string{"GRANT SELECT ON aiapp.* TO app", "GRANT etl TO app"},
			ddl:    datastore.Yes, file: datastore.No, reach: datastore.Yes,
			ddlEvidence: "role etl may give it",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := rbacServer(t, tc.grants)
			p, _ := privilegesOf(t, s, s.svc)
			if granted(p, "ddl") != tc.ddl || granted(p, "file") != tc.file || granted(p, "table_functions") != tc.reach {
				t.Errorf("Privileges = ddl %s, file %s, table functions %s (evidence %q), want %s, %s, %s",
					granted(p, "ddl"), granted(p, "file"), granted(p, "table_functions"), p.Evidence, tc.ddl, tc.file, tc.reach)
			}
			all := strings.Join(p.Evidence, "\n")
			if tc.evidence != "" && !strings.Contains(all, tc.evidence) {
				t.Errorf("evidence %q does not name the grant %q", p.Evidence, tc.evidence)
			}
			if tc.grants == nil && strings.Contains(all, "SHOW GRANTS") {
				t.Errorf("evidence %q speaks of grants on a server without them", p.Evidence)
			}
			if e := capEvidence(p, "ddl"); !strings.Contains(e, tc.ddlEvidence) {
				t.Errorf("ddl evidence = %q, want it to say %q", e, tc.ddlEvidence)
			}
		})
	}
}

// Over HTTP, GET cannot tell a readonly=0 profile from readonly=2, so the
// settings leave DDL unknown; 23.8's grants settle it.
func TestPrivilegesFromGrantsHTTP(t *testing.T) {
	srv := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		switch {
		case strings.Contains(q, "allow_ddl"):
			fmt.Fprint(w, "readonly\t2\nallow_ddl\t1\n")
		case strings.Contains(q, "numbers(1)"):
			fmt.Fprint(w, "1\n")
		case strings.Contains(q, "FROM file("):
			w.Header().Set("X-ClickHouse-Exception-Code", "497")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, "Code: 497. DB::Exception: analyst: Not enough privileges. To execute this query, it's necessary to have the grant CREATE TEMPORARY TABLE, FILE ON *.*. (ACCESS_DENIED) (version 23.8.2.7 (official build))\n")
		case strings.HasPrefix(q, "SHOW GRANTS"):
			fmt.Fprint(w, "GRANT SELECT ON aiapp.* TO analyst\n")
		}
	}))
	ep := datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: srv.Listener.Addr().(*net.TCPAddr).Port}
	svc := &datastore.Service{Endpoint: ep, Engine: "clickhouse", Protocol: "http", Auth: datastore.AuthNone, User: probeUser}
	sess, err := Driver{}.Open(context.Background(), svc, 5*time.Second)
	if err != nil {
		t.Fatalf("Open(%s) = %v", ep, err)
	}
	defer sess.Close()
	p, _ := privilegesOf(t, sess, svc)
	if granted(p, "ddl") != datastore.No || granted(p, "table_functions") != datastore.No || granted(p, "file") != datastore.No {
		t.Errorf("Privileges over HTTP with SELECT-only grants = ddl %s, table functions %s, file %s (evidence %q), want all no",
			granted(p, "ddl"), granted(p, "table_functions"), granted(p, "file"), p.Evidence)
	}
}

func TestSplitPrivileges(t *testing.T) {
	got := fmt.Sprint(splitPrivileges("SELECT(ID, EMAIL), INSERT, ALTER UPDATE, CREATE TEMPORARY TABLE"))
	if want := "[SELECT INSERT ALTER UPDATE CREATE TEMPORARY TABLE]"; got != want {
		t.Errorf("splitPrivileges = %s, want %s", got, want)
	}
}

// A tagged answer holding a raw carriage return anywhere is never taken
// for a complete result: TabSeparated escapes it, so it can only be the
// start of an exception envelope or a peer not speaking the format.
func FuzzTaggedTSV(f *testing.F) {
	f.Add([]byte(docRows + docEnvelope(docTag)))
	f.Add([]byte(docRows + "0\t" + docEnvelope(docTag)))
	f.Add([]byte(docRows + docEnvelope("aaaaaaaaaaaaaaaa")))
	f.Add([]byte("a\tb\nc\\r\n"))
	f.Add([]byte("x\r"))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := scanTSV(bytes.NewReader(body), func() bool { return false }, newMemBudget("the peer", 4<<20), docTag)
		if err == nil && bytes.IndexByte(body, '\r') >= 0 {
			t.Fatalf("scanTSV(%q, tagged) = %d rows, want an error: a raw CR opens an exception envelope", body, len(res.rows))
		}
	})
}

func FuzzParseGrants(f *testing.F) {
	f.Add("GRANT SELECT(id, email), INSERT ON aiapp.* TO app")
	f.Add("GRANT etl TO app")
	f.Add("GRANT READ ON S3 TO app")
	f.Add("GRANT ((,)) ON , TO")
	f.Fuzz(func(t *testing.T, line string) {
		g, ok := parseGrants([][]string{{line}})
		if ok && len(g.lines) != 1 {
			t.Fatalf("parseGrants(%q) = %d lines", line, len(g.lines))
		}
		if g.write == "CREATE TEMPORARY TABLE" {
			t.Fatalf("parseGrants(%q): CREATE TEMPORARY TABLE taken for a write", line)
		}
	})
}

func TestParseGrantsSources(t *testing.T) {
	for line, want := range map[string][3]string{
		"GRANT CREATE TEMPORARY TABLE, S3, URL ON *.* TO app": {"", "", "S3"},
		"GRANT SOURCES ON *.* TO app":                         {"", "SOURCES", "SOURCES"},
		"GRANT CREATE TEMPORARY TABLE, FILE ON *.* TO app":    {"", "FILE", ""},
		"GRANT ALTER UPDATE ON aiapp.customers TO app":        {"ALTER UPDATE", "", ""},
		"GRANT READ ON URL('https://.*') TO app":              {"", "", "URL"},
		"GRANT SHOW, SELECT ON *.* TO app":                    {"", "", ""},
	} {
		g, ok := parseGrants([][]string{{line}})
		if got := [3]string{g.write, g.file, g.reach}; !ok || got != want {
			t.Errorf("parseGrants(%q) = write %q, file %q, reach %q, want %q", line, got[0], got[1], got[2], want)
		}
	}
}
