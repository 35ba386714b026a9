package mysql

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

func TestParseGreetingFlavour(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pkt     []byte
		mariadb bool
		version string
		plugin  string
	}{
		{"MariaDB 10.11", mariaGreeting, true, "10.11.19", "mysql_native_password"},
		{"MySQL 8.0", mysql8Greeting, false, "8.0.36", "caching_sha2_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := parseGreeting(tc.pkt)
			if err != nil {
				t.Fatalf("parseGreeting = %v", err)
			}
			if g.MariaDB != tc.mariadb || shortVersion(g.Version) != tc.version || g.Plugin != tc.plugin {
				t.Errorf("parseGreeting = mariadb %v version %q plugin %q, want %v %q %q", g.MariaDB, shortVersion(g.Version), g.Plugin, tc.mariadb, tc.version, tc.plugin)
			}
		})
	}
}

func TestParseGreetingRefusesGarbage(t *testing.T) {
	for name, p := range map[string][]byte{
		"empty":        {},
		"protocol 9":   append([]byte{9}, mariaGreeting[1:]...),
		"HTTP":         []byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		"no NUL":       []byte{10, 'a', 'b'},
		"control char": greetingPacket("8.0\x1b[31m", mysqlCaps, "x"),
		"cut short":    mariaGreeting[:20],
	} {
		if g, err := parseGreeting(p); err == nil {
			t.Errorf("parseGreeting(%s) = %+v, want an error", name, g)
		}
	}
}

// TestProbeMySQL8 runs the probe against a MySQL 8-flavoured fake (no
// MySQL server can be installed here): flavour, version, and that the
// login carried an empty auth response.
func TestProbeMySQL8(t *testing.T) {
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mysql8Greeting)
		if f.acceptLogin(c) {
			c.read() // COM_QUIT
		}
	})
	svc, err := Driver{}.Probe(context.Background(), f.endpoint(), datastore.FirstLook{}, 3*time.Second)
	if err != nil || svc == nil {
		t.Fatalf("Probe = %v, %v, want a service", svc, err)
	}
	if svc.Auth != datastore.AuthNone || svc.User != "root" || svc.DisplayName != "MySQL" || svc.Version != "8.0.36" || svc.Engine != "mysql" || svc.Protocol != "mysql" || svc.TLS {
		t.Errorf("Probe = %+v, want MySQL 8.0.36 open as root in plaintext", svc)
	}
	if !strings.Contains(strings.Join(svc.Notes, "\n"), "offers TLS") {
		t.Errorf("Notes = %q, want the TLS offer noted", svc.Notes)
	}
	if len(f.logins) == 0 {
		t.Fatal("no login received")
	}
	user, auth := loginUser(f.logins[0])
	if user != "root" || len(auth) != 0 {
		t.Errorf("login = user %q auth %x, want root with an empty auth response", user, auth)
	}
	if caps := uint32(f.logins[0][0]) | uint32(f.logins[0][1])<<8 | uint32(f.logins[0][2])<<16 | uint32(f.logins[0][3])<<24; caps&(capLocalFiles|capMultiStatements|capSSL) != 0 {
		t.Errorf("client capabilities %#x ask for LOCAL INFILE, multi-statements or TLS", caps)
	}
}

// TestProbeVerdicts: what each answer to an empty-password login means.
func TestProbeVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(f *fakeServer, c *fakeConn)
		auth   datastore.Auth
		code   int
		tries  int // logins expected
	}{
		{"1045 for every user", func(f *fakeServer, c *fakeConn) {
			c.write(0, mariaGreeting)
			p, _ := c.read()
			f.mu.Lock()
			f.logins = append(f.logins, p)
			f.mu.Unlock()
			c.write(2, errPacket(1045, "28000", "Access denied for user 'root'@'127.0.0.1' (using password: NO)"))
		}, datastore.AuthRequired, 1045, len(probeUsers)},
		{"1130 before the login", func(f *fakeServer, c *fakeConn) {
			c.write(0, errPacket(1130, "", "Host '127.0.0.1' is not allowed to connect to this MariaDB server"))
		}, datastore.AuthIPRestricted, 1130, 0},
		{"1040 too many connections", func(f *fakeServer, c *fakeConn) {
			c.write(0, errPacket(1040, "", "Too many connections"))
		}, datastore.AuthUnknown, 1040, 0},
		{"auth switch answered empty, then 1045", func(f *fakeServer, c *fakeConn) {
			c.write(0, mariaGreeting)
			p, _ := c.read()
			f.mu.Lock()
			f.logins = append(f.logins, p)
			f.mu.Unlock()
			c.write(2, append([]byte("\xfeclient_ed25519\x00"), make([]byte, 32)...))
			if p, err := c.read(); err != nil || len(p) != 0 {
				c.write(4, errPacket(1105, "HY000", "the switch was answered with a guess"))
				return
			}
			c.write(4, errPacket(1045, "28000", "Access denied"))
		}, datastore.AuthRequired, 1045, len(probeUsers)},
		{"caching_sha2 full auth", func(f *fakeServer, c *fakeConn) {
			c.write(0, mysql8Greeting)
			p, _ := c.read()
			f.mu.Lock()
			f.logins = append(f.logins, p)
			f.mu.Unlock()
			c.write(2, []byte{0x01, 0x04})
			c.read()
		}, datastore.AuthRequired, 1045, len(probeUsers)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, tc.script)
			svc, err := Driver{}.Probe(context.Background(), f.endpoint(), datastore.FirstLook{}, 3*time.Second)
			if err != nil || svc == nil {
				t.Fatalf("Probe = %v, %v, want a service", svc, err)
			}
			if svc.Auth != tc.auth || svc.AuthCode != tc.code {
				t.Errorf("Probe = auth %s code %d (%s), want %s code %d", svc.Auth, svc.AuthCode, svc.AuthMessage, tc.auth, tc.code)
			}
			if len(f.logins) != tc.tries {
				t.Errorf("%d logins tried, want %d", len(f.logins), tc.tries)
			}
			for _, l := range f.logins {
				if _, auth := loginUser(l); len(auth) != 0 {
					t.Errorf("a login carried auth data %x, want none", auth)
				}
			}
		})
	}
}

// TestProbeFromLook: the first look's banner is judged without a
// connection of ours when it refuses us; other looks are not MySQL.
func TestProbeFromLook(t *testing.T) {
	ep := datastore.Endpoint{Host: "127.0.0.1", IP: net.ParseIP("127.0.0.1"), Port: 1} // nothing listens on port 1
	banner := func(p []byte) []byte { return append([]byte{byte(len(p)), byte(len(p) >> 8), 0, 0}, p...) }
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{Banner: banner(errPacket(1130, "", "Host '10.1.2.3' is not allowed to connect to this MySQL server"))}, time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthIPRestricted || svc.AuthCode != 1130 || !strings.Contains(svc.AuthMessage, "10.1.2.3") {
		t.Errorf("Probe(1130 banner) = %+v, %v, want ip-restricted naming the address the server saw", svc, err)
	}
	for name, look := range map[string]datastore.FirstLook{
		"HTTP":       {HTTP: &datastore.HTTPLook{Status: 200}},
		"reply":      {Reply: []byte("E\x00\x00\x00")},
		"SSH banner": {Banner: []byte("SSH-2.0-OpenSSH_9.2\r\n")},
		"silent":     {Silent: true},
		"TLS":        {TLS: true},
	} {
		if svc, err := (Driver{}).Probe(context.Background(), ep, look, time.Second); svc != nil || err != nil {
			t.Errorf("Probe(%s) = %+v, %v, want nil, nil", name, svc, err)
		}
	}
}

// TestProbeFromGreetingBanner: with the greeting already seen in the first
// look, the probe logs in on a connection of its own.
func TestProbeFromGreetingBanner(t *testing.T) {
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mariaGreeting)
		if f.acceptLogin(c) {
			c.read()
		}
	})
	banner := append([]byte{byte(len(mariaGreeting)), 0, 0, 0}, mariaGreeting...)
	svc, err := Driver{}.Probe(context.Background(), f.endpoint(), datastore.FirstLook{Banner: banner}, 3*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone || svc.DisplayName != "MariaDB" || svc.Version != "10.11.19" {
		t.Fatalf("Probe = %+v, %v, want MariaDB open", svc, err)
	}
	if len(f.logins) != 1 {
		t.Errorf("%d logins, want 1", len(f.logins))
	}
}

// A greeting slower than the look's wait for a banner comes back as the
// start of the look's reply, followed by the server's error for our GET:
// still MySQL.
func TestProbeFromLateGreeting(t *testing.T) {
	f := startFake(t, func(f *fakeServer, c *fakeConn) {
		c.write(0, mariaGreeting)
		if f.acceptLogin(c) {
			c.read()
		}
	})
	reply := append([]byte{byte(len(mariaGreeting)), 0, 0, 0}, mariaGreeting...)
	reply = append(reply, 0x1b, 0, 0, 1, 0xff, 0x13, 0x04) // the ERR that follows (Bad handshake), cut short
	svc, err := Driver{}.Probe(context.Background(), f.endpoint(), datastore.FirstLook{Reply: reply}, 3*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone || svc.DisplayName != "MariaDB" {
		t.Fatalf("Probe(greeting in the reply) = %+v, %v, want MariaDB open", svc, err)
	}
}
