package mysql

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Fake peers: each listens on 127.0.0.1 with a port the kernel picks and
// runs a script per connection. Nothing here reaches beyond loopback.

type fakeServer struct {
	ln   net.Listener
	port int
	mu   sync.Mutex
	// logins are the handshake responses received, for assertions on what
	// the client sent.
	logins [][]byte
}

func startFake(t *testing.T, handle func(f *fakeServer, c *fakeConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	f := &fakeServer{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	var conns sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				handle(f, &fakeConn{c: c, r: bufio.NewReader(c)})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return f
}

func (f *fakeServer) endpoint() datastore.Endpoint {
	return datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: f.port}
}

type fakeConn struct {
	c net.Conn
	r *bufio.Reader
}

func (c *fakeConn) write(seq byte, p []byte) error {
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
	_, err := c.c.Write(append(h, p...))
	return err
}

func (c *fakeConn) read() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(c.r, p)
	return p, err
}

// greetingPacket builds a HandshakeV10.
func greetingPacket(version string, caps uint32, plugin string) []byte {
	b := []byte{10}
	b = append(b, version...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 42)
	b = append(b, "abcdefgh"...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 45)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, make([]byte, 10)...)
	b = append(b, "ijklmnopqrst"...)
	b = append(b, 0)
	b = append(b, plugin...)
	return append(b, 0)
}

const (
	mariaCaps = 0x81fff7fe // CLIENT_MYSQL clear, as MariaDB 10.11 sends
	mysqlCaps = 0xdfffffff // MySQL 8.0: CLIENT_MYSQL set
)

var (
	mariaGreeting  = greetingPacket("5.5.5-10.11.19-MariaDB-0+deb12u1", mariaCaps, "mysql_native_password")
	mysql8Greeting = greetingPacket("8.0.36", mysqlCaps, "caching_sha2_password")
)

func errPacket(code int, state, msg string) []byte {
	b := []byte{0xff}
	b = binary.LittleEndian.AppendUint16(b, uint16(code))
	if state != "" {
		b = append(b, '#')
		b = append(b, state...)
	}
	return append(b, msg...)
}

var okPacket = []byte{0, 0, 0, 2, 0, 0, 0}

func lenencStr(s string) []byte {
	b := []byte{}
	switch n := len(s); {
	case n < 251:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 0xfc, byte(n), byte(n>>8))
	default:
		b = append(b, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	}
	return append(b, s...)
}

func columnDef(name string) []byte {
	var b []byte
	for _, s := range []string{"def", "", "", "", name, name} {
		b = append(b, lenencStr(s)...)
	}
	b = append(b, 0x0c, 45, 0, 0, 1, 0, 0, 253, 0, 0, 0, 0, 0)
	return b
}

var eofPacket = []byte{0xfe, 0, 0, 2, 0}

// writeResult sends a text result set; a nil value is NULL.
func (c *fakeConn) writeResult(cols []string, rows [][]*string) {
	seq := byte(1)
	next := func() byte { seq++; return seq - 1 }
	c.write(next(), []byte{byte(len(cols))})
	for _, n := range cols {
		c.write(next(), columnDef(n))
	}
	c.write(next(), eofPacket)
	for _, r := range rows {
		var b []byte
		for _, v := range r {
			if v == nil {
				b = append(b, 0xfb)
			} else {
				b = append(b, lenencStr(*v)...)
			}
		}
		c.write(next(), b)
	}
	c.write(next(), eofPacket)
}

func str(s string) *string { return &s }

// acceptLogin reads the handshake response, records it and answers OK.
func (f *fakeServer) acceptLogin(c *fakeConn) bool {
	p, err := c.read()
	if err != nil {
		return false
	}
	f.mu.Lock()
	f.logins = append(f.logins, p)
	f.mu.Unlock()
	return c.write(2, okPacket) == nil
}

// serveQueries answers COM_QUERY with answer(sql); nil answers OK.
func serveQueries(c *fakeConn, answer func(sql string, c *fakeConn) bool) {
	for {
		p, err := c.read()
		if err != nil || len(p) == 0 || p[0] != 0x03 {
			return
		}
		if !answer(string(p[1:]), c) {
			c.write(1, okPacket)
		}
	}
}

// loginUser and loginAuth decode a HandshakeResponse41: the user and the
// auth response it carries.
func loginUser(p []byte) (user string, auth []byte) {
	if len(p) < 33 {
		return "", nil
	}
	rest := p[32:]
	i := strings.IndexByte(string(rest), 0)
	if i < 0 {
		return "", nil
	}
	user, rest = string(rest[:i]), rest[i+1:]
	if len(rest) == 0 {
		return user, nil
	}
	n := int(rest[0])
	if n > len(rest)-1 {
		return user, rest
	}
	return user, rest[1 : 1+n]
}
