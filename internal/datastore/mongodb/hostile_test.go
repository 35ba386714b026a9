package mongodb

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
)

// request reads one request and returns its id and body.
func request(c net.Conn) (int32, int32, []byte, error) {
	var h [16]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, 0, nil, err
	}
	n := int(binary.LittleEndian.Uint32(h[:]))
	if n < 16 || n > 1<<20 {
		return 0, 0, nil, errors.New("bad length")
	}
	body := make([]byte, n-16)
	_, err := io.ReadFull(c, body)
	return int32(binary.LittleEndian.Uint32(h[4:])), int32(binary.LittleEndian.Uint32(h[12:])), body, err
}

// header is a message header answering id, claiming length n.
func header(n int, id int32, op int32) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h[0:], uint32(n))
	binary.LittleEndian.PutUint32(h[8:], uint32(id))
	binary.LittleEndian.PutUint32(h[12:], uint32(op))
	return h
}

// reply is an OP_REPLY holding d.
func reply(id int32, d doc) []byte {
	enc, _ := d.encode()
	body := make([]byte, 20)
	binary.LittleEndian.PutUint32(body[16:], 1)
	body = append(body, enc...)
	return append(header(16+len(body), id, opReply), body...)
}

// opMsgReply is an OP_MSG answer holding d.
func opMsgReply(id int32, d doc) []byte {
	enc, _ := d.encode()
	body := msgBody(enc)
	return append(header(16+len(body), id, opMsg), body...)
}

var helloDoc = doc{{"ismaster", true}, {"maxWireVersion", int32(17)}, {"ok", 1.0}}

// fakeMongo answers isMaster, then answer(cmdName, id) for each OP_MSG.
func fakeMongo(answer func(c net.Conn, name string, id int32)) func(c net.Conn) {
	return func(c net.Conn) {
		for {
			id, op, body, err := request(c)
			if err != nil {
				return
			}
			if op == opQuery {
				c.Write(reply(id, helloDoc))
				continue
			}
			d, err := decodeDocument(body[5:])
			if err != nil || len(d) == 0 {
				return
			}
			answer(c, d[0].Key, id)
		}
	}
}

func probe(t *testing.T, ep datastore.Endpoint, timeout time.Duration) (*datastore.Service, time.Duration, error) {
	t.Helper()
	start := time.Now()
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, timeout)
	return svc, time.Since(start), err
}

// TestHostilePeers: garbage, a tarpit, a huge length and an endless
// answer each cost at most a timeout or a clear error, never a service
// or unbounded memory.
func TestHostilePeers(t *testing.T) {
	cases := []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"garbage", func(c net.Conn) {
			request(c)
			c.Write([]byte(strings.Repeat("\xfe\x81garbage", 200)))
		}},
		{"tarpit", func(c net.Conn) { io.Copy(io.Discard, c) }},
		{"huge length", func(c net.Conn) {
			id, _, _, _ := request(c)
			c.Write(header(0x7ffffff0, id, opReply))
			c.Write(make([]byte, 1<<16))
		}},
		{"endless answer", func(c net.Conn) {
			id, _, _, _ := request(c)
			c.Write(header(40<<20, id, opReply))
			junk := make([]byte, 1<<16)
			for {
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}},
		{"wrong response id", func(c net.Conn) {
			id, _, _, _ := request(c)
			c.Write(reply(id+7, helloDoc))
		}},
		{"BSON claiming more than it holds", func(c net.Conn) {
			id, _, _, _ := request(c)
			body := make([]byte, 20)
			binary.LittleEndian.PutUint32(body[16:], 1)
			body = append(body, 0xff, 0xff, 0xff, 0x0f, 0x02, 'a', 0) // a document claiming 256 MB
			c.Write(append(header(16+len(body), id, opReply), body...))
		}},
		{"not MongoDB's hello", func(c net.Conn) {
			id, _, _, _ := request(c)
			c.Write(reply(id, doc{{"ok", 1.0}, {"hello", "world"}}))
		}},
	}
	const timeout = time.Second
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep := datastoretest.Serve(t, c.serve)
			svc, took, err := probe(t, ep, timeout)
			if svc != nil {
				t.Errorf("Probe(%s) = a %s service (auth %s); want none", c.name, svc.Engine, svc.Auth)
			}
			if took > 3*timeout+2*time.Second {
				t.Errorf("Probe(%s) took %s, want at most %s", c.name, took.Round(time.Millisecond), 3*timeout+2*time.Second)
			}
			t.Logf("Probe(%s) = nil, %v after %s", c.name, err, took.Round(time.Millisecond))
		})
	}
}

// TestProbeAuth: listDatabases answered is open; code 13 is locked.
func TestProbeAuth(t *testing.T) {
	for _, c := range []struct {
		name string
		ans  doc
		want datastore.Auth
	}{
		{"open", doc{{"databases", arr{doc{{"name", "aiapp"}, {"sizeOnDisk", int64(4096)}}}}, {"ok", 1.0}}, datastore.AuthNone},
		{"locked", doc{{"ok", 0.0}, {"errmsg", "command listDatabases requires authentication"}, {"code", int32(13)}, {"codeName", "Unauthorized"}}, datastore.AuthRequired},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := datastoretest.Serve(t, fakeMongo(func(conn net.Conn, name string, id int32) {
				switch name {
				case "buildInfo":
					conn.Write(opMsgReply(id, doc{{"version", "7.0.14"}, {"ok", 1.0}}))
				default:
					conn.Write(opMsgReply(id, c.ans))
				}
			}))
			svc, _, err := probe(t, ep, 2*time.Second)
			if err != nil || svc == nil {
				t.Fatalf("Probe = %v, %v; want a service", svc, err)
			}
			if svc.Auth != c.want || svc.Version != "7.0.14" || svc.Engine != "mongodb" {
				t.Errorf("Probe = auth %s version %q engine %q, want auth %s version 7.0.14 engine mongodb", svc.Auth, svc.Version, svc.Engine, c.want)
			}
		})
	}
}

// TestSessionHugeAnswer: a server whose answer to a find claims more than
// the byte budget costs an error noted in the sample, and the budget is
// never charged past the session's memory.
func TestSessionHugeAnswer(t *testing.T) {
	ep := datastoretest.Serve(t, fakeMongo(func(conn net.Conn, name string, id int32) {
		switch name {
		case "buildInfo":
			conn.Write(opMsgReply(id, doc{{"version", "7.0.14"}, {"ok", 1.0}}))
		default:
			conn.Write(header(30<<20, id, opMsg))
			conn.Write(make([]byte, 1<<20))
		}
	}))
	svc := &datastore.Service{Endpoint: ep, Engine: "mongodb", Auth: datastore.AuthNone}
	s, err := open(context.Background(), svc, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.Sample(context.Background(), datastore.Table{Database: "aiapp", Name: "c", Kind: "collection", Rows: 10}, datastore.Limits{Random: 5, Rows: 1, Bytes: 64 << 10})
	if err != nil {
		t.Fatalf("Sample = %v", err)
	}
	if len(rows.Values) != 0 || len(rows.Truncation) == 0 || !strings.Contains(strings.Join(rows.Truncation, " "), "past the cap") {
		t.Errorf("Sample of a 30 MB answer with a 64 KiB budget = %d rows, truncation %q; want none, and the cap named", len(rows.Values), rows.Truncation)
	}
	if s.mem.held > 1<<20 {
		t.Errorf("the session holds %d bytes after a refused answer", s.mem.held)
	}
}

// TestPrivilegesFromServer: with access control off, a capability is
// granted where the server lists a command that exercises it, refused
// where it lists none; nothing is run to find out.
func TestPrivilegesFromServer(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	ep := datastoretest.Serve(t, fakeMongo(func(conn net.Conn, name string, id int32) {
		mu.Lock()
		asked = append(asked, name)
		mu.Unlock()
		switch name {
		case "buildInfo":
			conn.Write(opMsgReply(id, doc{{"version", "4.4.29"}, {"ok", 1.0}}))
		case "connectionStatus":
			conn.Write(opMsgReply(id, doc{{"authInfo", doc{{"authenticatedUsers", arr{}}, {"authenticatedUserRoles", arr{}}}}, {"ok", 1.0}}))
		case "listCommands":
			conn.Write(opMsgReply(id, doc{{"commands", doc{{"insert", doc{}}, {"find", doc{}}, {"shutdown", doc{}}}}, {"ok", 1.0}}))
		default:
			conn.Write(opMsgReply(id, doc{{"ok", 0.0}, {"code", int32(59)}, {"errmsg", "no such command"}}))
		}
	}))
	s, err := open(context.Background(), &datastore.Service{Endpoint: ep, Engine: "mongodb", Auth: datastore.AuthNone}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Privileges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]datastore.Verdict{"write": datastore.Yes, "userAdmin": datastore.No, "serverAdmin": datastore.Yes}
	for _, c := range p.Capabilities {
		if c.Granted != want[c.ID] {
			t.Errorf("capability %s = %s (%s), want %s", c.ID, c.Granted, c.Evidence, want[c.ID])
		}
	}
	if p.Readonly != datastore.No {
		t.Errorf("readonly = %s, want no", p.Readonly)
	}
	for _, a := range asked {
		if a != "isMaster" && a != "buildInfo" && a != "connectionStatus" && a != "listCommands" {
			t.Errorf("Privileges sent %s; it may only read", a)
		}
	}
}
