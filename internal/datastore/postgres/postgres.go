// Package postgres finds PostgreSQL servers that let a stranger in without
// a password, and assesses them read-only: the roles and grants of the user
// let in, the databases, schemas and tables it can see, and what their text
// columns hold.
package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Driver is the PostgreSQL driver.
type Driver struct{}

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Name implements datastore.Driver.
func (Driver) Name() string { return "postgresql" }

// DefaultPorts implements datastore.Driver.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 5432, Protocol: "postgres", TLS: false}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "postgres", Port: 5432}, {Name: "postgresql", Port: 5432}}
}

// probeUsers are the roles tried, in order, with no password: initdb's
// default superuser first (it exists on practically every cluster), then
// a few names operators give a first role. Each try is one line in the
// server's log, so the list stays short.
var probeUsers = []string{"postgres", "admin", "root"}

// attempt is what one startup as one user saw.
type attempt struct {
	pg      bool // the peer spoke PostgreSQL
	ok      bool // ReadyForQuery: access proven
	auth    int  // an authentication request other than Ok (0: none)
	authMsg string
	err     *pgError // the server's ErrorResponse
	params  map[string]string
	tls     bool
	cert    *datastore.Cert
	ioErr   error
}

// Probe implements datastore.Driver. PostgreSQL never speaks first, so a
// port that sent a banner or answered HTTP is not one; a server that
// answered our HTTP request with something other than an ErrorResponse
// is not one either. No password is ever sent: a password request is the
// answer ("required"), and the connection is closed at once.
func (Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	if look.HTTP != nil || look.Banner != nil {
		return nil, nil
	}
	if look.Reply != nil && !isErrorResponse(look.Reply) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	svc := &datastore.Service{Endpoint: ep, Engine: "postgresql", Protocol: "postgres", Auth: datastore.AuthUnknown}
	var required, restricted, other *attempt
	var requiredUser, restrictedUser string
	spoke := false
	for _, user := range probeUsers {
		a := tryUser(ctx, ep, user)
		if !a.pg {
			if spoke {
				continue // a dropped connection after the server spoke
			}
			return nil, nil // silent, or not the protocol
		}
		spoke = true
		if v := a.params["server_version"]; v != "" && svc.Version == "" {
			svc.Version = printable(v, 64)
		}
		switch {
		case a.ok:
			svc.Auth, svc.User, svc.TLS, svc.Cert = datastore.AuthNone, user, a.tls, a.cert
			svc.AuthCode, svc.AuthMessage = 0, ""
			svc.Timezone = printable(a.params["TimeZone"], 64)
			if a.params["is_superuser"] == "on" {
				svc.Notes = append(svc.Notes, fmt.Sprintf("the server reports user %q is a superuser", user))
			}
			return svc, nil
		case a.auth != 0 && required == nil:
			required, requiredUser = &a, user
		case a.err != nil && a.err.Code == "28000" && hbaRefusal(a.err.Message) && restricted == nil:
			restricted, restrictedUser = &a, user
		case other == nil:
			other = &a
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case required != nil:
		svc.Auth, svc.User, svc.TLS, svc.Cert = datastore.AuthRequired, requiredUser, required.tls, required.cert
		svc.AuthCode = required.auth
		svc.AuthMessage = fmt.Sprintf("PostgreSQL asks user %q for %s; no password was sent", requiredUser, required.authMsg)
	case restricted != nil:
		svc.Auth, svc.User, svc.TLS, svc.Cert = datastore.AuthIPRestricted, restrictedUser, restricted.tls, restricted.cert
		svc.AuthCode = sqlstateCode(restricted.err.Code)
		svc.AuthMessage = fmt.Sprintf("%s (SQLSTATE %s)", restricted.err.Message, restricted.err.Code)
	case other != nil && other.err != nil:
		svc.AuthCode = sqlstateCode(other.err.Code)
		svc.AuthMessage = fmt.Sprintf("%s (SQLSTATE %s)", other.err.Message, other.err.Code)
		svc.TLS, svc.Cert = other.tls, other.cert
	case other != nil && other.ioErr != nil:
		svc.AuthMessage = "the server stopped answering before access was proven: " + other.ioErr.Error()
		svc.TLS, svc.Cert = other.tls, other.cert
	}
	if !spoke {
		return nil, nil
	}
	return svc, nil
}

// hbaRefusal reports whether a 28000 message is pg_hba.conf refusing the
// client's address (not "role … does not exist").
func hbaRefusal(msg string) bool {
	return strings.Contains(msg, "no pg_hba.conf entry") || strings.Contains(msg, "pg_hba.conf rejects")
}

// sqlstateCode is a SQLSTATE as a number where it is one (28000), else 0.
func sqlstateCode(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// tryUser proves access as user: over TLS when the server offers it (as
// libpq's sslmode=prefer does), in plaintext otherwise or when pg_hba.conf
// refuses TLS (hostnossl); database postgres, then template1 when
// postgres does not exist.
func tryUser(ctx context.Context, ep datastore.Endpoint, user string) attempt {
	a := startup(ctx, ep, user, "postgres", true)
	if a.err != nil && a.err.Code == "3D000" {
		a = startup(ctx, ep, user, "template1", a.tls)
	}
	if a.tls && a.err != nil && a.err.Code == "28000" && hbaRefusal(a.err.Message) && strings.Contains(a.err.Message, "SSL encryption") {
		b := startup(ctx, ep, user, "postgres", false)
		if b.pg {
			return b
		}
	}
	return a
}

// startup opens one connection and reads the server's answer to a
// StartupMessage for user and db, offering TLS first if tryTLS.
func startup(ctx context.Context, ep datastore.Endpoint, user, db string, tryTLS bool) (a attempt) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ep.Addr())
	if err != nil {
		a.ioErr = err
		return a
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var conn net.Conn = c
	// The whole answer is read through a cap: a peer cannot make the probe
	// hold more than this, whatever it sends.
	r := io.LimitReader(c, maxProbeMessages*64+2*maxProbeMessage)
	if tryTLS {
		if _, err := c.Write(sslRequest); err != nil {
			a.ioErr = err
			return a
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			a.ioErr = err
			return a
		}
		switch b[0] {
		case 'N':
			a.pg = true
		case 'S':
			a.pg = true
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: ep.Host}) // recorded, never trusted
			if err := tc.HandshakeContext(ctx); err != nil {
				// A PostgreSQL server answers its 'S' with TLS records; a peer
				// whose 'S' began something else ("SSH-2.0-…") is not one.
				var rec tls.RecordHeaderError
				a.pg = !errors.As(err, &rec)
				a.ioErr = fmt.Errorf("TLS handshake: %w", err)
				return a
			}
			a.tls = true
			if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
				a.cert = datastore.CertOf(cs.PeerCertificates[0])
			}
			conn = tc
			r = io.LimitReader(tc, maxProbeMessages*64+2*maxProbeMessage)
		default:
			return a // one byte that is neither: not PostgreSQL
		}
	}
	if _, err := conn.Write(startupMessage("user", user, "database", db, "application_name", "leakhound")); err != nil {
		a.ioErr = err
		return a
	}
	a.readAnswer(r)
	if a.ok {
		conn.Write(terminate)
	}
	return a
}

// readAnswer reads the server's answer to a StartupMessage, up to
// ReadyForQuery, an ErrorResponse or a request for a password, and says
// what it was. Anything else is not PostgreSQL.
func (a *attempt) readAnswer(r io.Reader) {
	a.params = map[string]string{}
	authOK := false
	for range maxProbeMessages {
		m, err := readMessage(r, maxProbeMessage)
		if err != nil {
			if !errors.Is(err, errNotPostgres) {
				a.ioErr = err
			} else {
				a.pg = false
			}
			return
		}
		switch m.typ {
		case 'R':
			code, err := authCode(m)
			if err != nil {
				a.pg = false
				return
			}
			a.pg = true
			if code != 0 {
				// A password (or a ticket) is asked for: that is the
				// answer. Nothing is sent back.
				a.auth, a.authMsg = code, authName(code, m.body)
				return
			}
			authOK = true
		case 'E':
			e, err := parseError(m.body)
			if err != nil {
				a.pg = false
				return
			}
			a.pg, a.err = true, e
			return
		case 'S':
			k, v, err := parseParameter(m.body)
			if err != nil {
				a.pg = false
				return
			}
			if len(a.params) < 64 {
				a.params[printable(k, 64)] = v
			}
		case 'Z':
			if !authOK {
				a.pg = false
				return
			}
			a.ok = true
			return
		}
	}
	a.ioErr = errors.New("too many messages before ReadyForQuery")
}
