package mysql

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func FuzzParseGreeting(f *testing.F) {
	f.Add(mariaGreeting)
	f.Add(mysql8Greeting)
	f.Add(errPacket(1130, "", "Host '127.0.0.1' is not allowed to connect to this MariaDB server"))
	f.Add([]byte{10, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		g, err := parseGreeting(p)
		if err == nil && (g == nil || g.Version == "" || !printableASCII(g.Version)) {
			t.Fatalf("parseGreeting(%x) = %+v without an error", p, g)
		}
	})
}

func FuzzDecodeRow(f *testing.F) {
	f.Add([]byte{3, 'a', 'b', 'c', 0xfb}, 2, 8)
	f.Add([]byte{0xfc, 0xff, 0xff}, 1, 8)
	f.Add([]byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0x80}, 1, 8)
	f.Fuzz(func(t *testing.T, p []byte, n, cell int) {
		if n < 0 || n > maxColumns || cell < 1 || cell > 1<<16 {
			return
		}
		row, nulls, cost, err := decodeRow(p, n, cell)
		if err != nil {
			return
		}
		if len(row) != n || len(nulls) != n || cost < 0 {
			t.Fatalf("decodeRow = %d values, %d nulls, cost %d", len(row), len(nulls), cost)
		}
		for _, v := range row {
			if len(v) > cell {
				t.Fatalf("a value of %d bytes past the cap of %d", len(v), cell)
			}
		}
	})
}

func FuzzParseGrant(f *testing.F) {
	f.Add("GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION")
	f.Add("GRANT SELECT (a, `b``c`), INSERT ON `db`.`t` TO 'u'@'h'")
	f.Add("GRANT `r1`,`r2`@`%` TO `u`@`%`")
	f.Fuzz(func(t *testing.T, line string) {
		g, ok := parseGrant(line)
		for _, r := range g.roles {
			if q, ok := requoteRole(r); ok && (len(q) < 2 || q[0] != '`') {
				t.Fatalf("requoteRole(%q) = %q", r, q)
			}
		}
		_ = ok
	})
}

// pipeConn is a net.Conn whose reads come from a fixed answer and whose
// writes are dropped: the query reader fed any bytes at all.
type pipeConn struct {
	net.Conn
	r *bytes.Reader
}

func (c pipeConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c pipeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c pipeConn) SetDeadline(time.Time) error      { return nil }
func (c pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (c pipeConn) Close() error                     { return nil }

func FuzzQuery(f *testing.F) {
	var ok bytes.Buffer
	for i, p := range [][]byte{{1}, columnDef("x"), eofPacket, lenencStr("hello"), {0xfb}, eofPacket} {
		ok.Write([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), byte(i + 1)})
		ok.Write(p)
	}
	f.Add(ok.Bytes())
	f.Add([]byte{9, 0, 0, 1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0})
	f.Fuzz(func(t *testing.T, answer []byte) {
		w := newWire(pipeConn{r: bytes.NewReader(answer)})
		var held int64
		res, _ := w.query("SELECT 1", queryCaps{rows: 100, bytes: 1 << 20, cell: 64, charge: func(n int64) error {
			held += n
			if held > 1<<20 {
				return errMemoryBudget
			}
			return nil
		}})
		if res != nil && len(res.Rows) > 100 {
			t.Fatalf("%d rows kept past the cap of 100", len(res.Rows))
		}
	})
}
