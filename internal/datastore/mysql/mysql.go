// Package mysql finds MySQL and MariaDB servers that let anyone in: it
// proves access with an empty auth response (never a password, never a
// guess), tells MariaDB from MySQL, and opens a read-only session that
// judges the user's grants, lists what the server holds and samples it.
package mysql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Driver is the MySQL/MariaDB driver.
type Driver struct{}

// Name implements datastore.Driver; jsonl's engine is "mysql" for MariaDB
// too, and DisplayName says which answered.
func (Driver) Name() string { return "mysql" }

// DefaultPorts implements datastore.Driver.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 3306, Protocol: "mysql"}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "mysql", Port: 3306}, {Name: "mariadb", Port: 3306}}
}

// probeUsers are tried in turn with an empty password; every try is a line
// in the server's log ("Access denied … (using password: NO)"), so the list
// is short: root is on every server, admin is the usual rename of it.
var probeUsers = []string{"root", "admin"}

// Probe implements datastore.Driver. The server speaks first: its greeting
// is the look's Banner, or is read here when no look was taken. An ERR
// packet in place of the greeting is the server refusing our address
// (1130) before any login.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	if look.HTTP != nil || look.TLS || look.Silent || look.Closed {
		return nil, nil // MySQL speaks first, in plaintext
	}
	// A greeting slower than the look's wait for a banner is the start of
	// its reply to the look's request.
	greet := look.Greeting()
	var g *greeting
	var res loginResult
	var err error
	if greet != nil {
		g, err = greetingOf(greet)
		var se *ServerError
		if look.Banner == nil && g == nil && !errors.As(err, &se) {
			return nil, nil // a reply that is no greeting: another protocol
		}
	} else {
		// No look: the first login's connection reads the greeting, so
		// that no connection is dropped mid-handshake (MySQL blocks a host
		// after max_connect_errors of those).
		res, g, err = tryLogin(ctx, ep, probeUsers[0], timeout)
	}
	var se *ServerError
	switch {
	case errors.As(err, &se) && g == nil:
		return refusal(ep, se), nil
	case g == nil && greet == nil:
		return nil, nil // no greeting: not MySQL, or not answering
	case errors.Is(err, errProtocol) && g == nil:
		return nil, nil
	case err != nil && g == nil:
		return nil, err
	}
	svc := service(ep, g)
	svc.Auth = datastore.AuthUnknown
	if err != nil {
		svc.Notes = append(svc.Notes, fmt.Sprintf("login as %q got no answer: %v", probeUsers[0], err))
		return svc, nil
	}
	var first *ServerError
	for i, user := range probeUsers {
		if i > 0 || greet != nil {
			var g2 *greeting
			res, g2, err = tryLogin(ctx, ep, user, timeout)
			if errors.As(err, &se) && g2 == nil { // the greeting itself was an ERR this time
				return refusal(ep, se), nil
			}
			if err != nil {
				svc.Notes = append(svc.Notes, fmt.Sprintf("login as %q got no answer: %v", user, err))
				return svc, nil
			}
			g = g2
		}
		if res.OK {
			svc.Auth, svc.User = datastore.AuthNone, user
			svc.AuthMessage = fmt.Sprintf("%s let user %q in with an empty password", flavourName(g), user)
			return svc, nil
		}
		e := res.Err
		switch e.Code {
		case 1045, 1698: // access denied; 1698: denied without a password (auth_socket)
			if first == nil {
				first = e
			}
			continue
		case 1130:
			svc.Auth, svc.AuthCode, svc.AuthMessage = datastore.AuthIPRestricted, e.Code, e.Message
			return svc, nil
		}
		svc.Auth, svc.AuthCode, svc.AuthMessage = datastore.AuthUnknown, e.Code, e.Message
		return svc, nil
	}
	if first != nil {
		svc.Auth, svc.AuthCode, svc.AuthMessage = datastore.AuthRequired, first.Code, first.Message
		svc.User = probeUsers[0]
	}
	return svc, nil
}

// greetingOf parses a banner: one packet, seq 0.
func greetingOf(b []byte) (*greeting, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("a banner of %d bytes: %w", len(b), errProtocol)
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if b[3] != 0 || n == 0 || n > len(b)-4 {
		return nil, fmt.Errorf("a banner that is not one packet: %w", errProtocol)
	}
	return parseGreeting(b[4 : 4+n])
}

// dialGreeting connects and reads the greeting; an ERR greeting is
// returned as a *ServerError.
func dialGreeting(ctx context.Context, ep datastore.Endpoint, timeout time.Duration) (*wire, *greeting, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var dl net.Dialer
	c, err := dl.DialContext(dctx, "tcp", ep.Addr())
	if err != nil {
		return nil, nil, err
	}
	w := newWire(c)
	disarm := w.arm(ctx, timeout)
	defer disarm()
	p, err := w.readPacket(4096)
	if err != nil {
		return w, nil, err
	}
	g, err := parseGreeting(p)
	return w, g, err
}

// tryLogin opens a connection and logs in as user with an empty auth
// response, then says goodbye.
func tryLogin(ctx context.Context, ep datastore.Endpoint, user string, timeout time.Duration) (loginResult, *greeting, error) {
	w, g, err := dialGreeting(ctx, ep, timeout)
	if w != nil {
		defer w.c.Close()
	}
	if err != nil {
		return loginResult{}, nil, err
	}
	disarm := w.arm(ctx, timeout)
	defer disarm()
	res, err := w.login(g, user)
	if err == nil && res.OK {
		w.quit()
	}
	return res, g, err
}

func flavourName(g *greeting) string {
	if g.MariaDB {
		return "MariaDB"
	}
	return "MySQL"
}

func service(ep datastore.Endpoint, g *greeting) *datastore.Service {
	svc := &datastore.Service{Endpoint: ep, Engine: "mysql", Protocol: "mysql", Version: shortVersion(g.Version),
		DisplayName: flavourName(g)}
	if g.Caps&capSSL != 0 {
		svc.Notes = append(svc.Notes, "the server offers TLS (CLIENT_SSL); leakhound spoke plaintext")
	} else {
		svc.Notes = append(svc.Notes, "the server offers no TLS: logins and data cross the network in plaintext")
	}
	return svc
}

// refusal is the service a greeting-time ERR describes: MySQL answered,
// but not to us.
func refusal(ep datastore.Endpoint, e *ServerError) *datastore.Service {
	svc := &datastore.Service{Endpoint: ep, Engine: "mysql", Protocol: "mysql", Auth: datastore.AuthUnknown,
		AuthCode: e.Code, AuthMessage: e.Message, DisplayName: "MySQL"}
	if containsFold(e.Message, "mariadb") {
		svc.DisplayName = "MariaDB"
	}
	if e.Code == 1130 {
		svc.Auth = datastore.AuthIPRestricted
	}
	return svc
}

// Open implements datastore.Driver: a session as the user access was
// proven for, read-only for its whole life (SET SESSION TRANSACTION READ
// ONLY) and with a statement time limit.
//
// At merge, when datastore.Session has the new ServerID and Pushdown, the
// lead changes the result to datastore.Session (open stays as it is).
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	s, err := open(ctx, svc, timeout)
	if err != nil {
		return nil, err // not a nil *Session in a non-nil interface
	}
	return s, nil
}

func open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (*Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no session: access was not proven (auth %s)", svc.Endpoint, svc.Auth)
	}
	s := &Session{svc: svc, timeout: timeout, mem: newMemBudget(svc.Endpoint.String(), datastore.SessionMemory)}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// connect logs in and sets the session's guards. It is called again after
// a connection had to be dropped mid-answer.
func (s *Session) connect(ctx context.Context) error {
	w, g, err := dialGreeting(ctx, s.svc.Endpoint, s.timeout)
	if err != nil {
		if w != nil {
			w.c.Close()
		}
		return fmt.Errorf("%s: %w", s.svc.Endpoint, err)
	}
	disarm := w.arm(ctx, s.timeout)
	res, err := w.login(g, s.svc.User)
	disarm()
	if err == nil && !res.OK {
		err = res.Err
	}
	if err != nil {
		w.c.Close()
		return fmt.Errorf("%s: logging in as %q: %w", s.svc.Endpoint, s.svc.User, err)
	}
	s.w, s.mariadb, s.version = w, g.MariaDB, g.Version
	limit := fmt.Sprintf("SET SESSION max_execution_time = %d", s.timeout.Milliseconds())
	if s.mariadb {
		limit = fmt.Sprintf("SET SESSION max_statement_time = %.3f", s.timeout.Seconds())
	}
	for _, q := range []string{"SET NAMES utf8mb4", "SET SESSION TRANSACTION READ ONLY", limit} {
		_, err := s.q(ctx, q, 1, 4096)
		var se *ServerError
		switch {
		case err == nil:
		case q == limit && errors.As(err, &se) && se.Code == 1193:
			// No such variable before MySQL 5.7.8 and MariaDB 10.1, which
			// many exposed servers run: every query keeps our own deadline.
			s.noServerLimit = true
		case q == "SET NAMES utf8mb4" && errors.As(err, &se) && se.Code == 1115:
			// No utf8mb4 before MySQL 5.5.3.
			if _, err := s.q(ctx, "SET NAMES utf8", 1, 4096); err != nil {
				s.Close()
				return fmt.Errorf("%s: SET NAMES utf8: %w", s.svc.Endpoint, err)
			}
		default:
			s.Close()
			return fmt.Errorf("%s: %s: %w", s.svc.Endpoint, q, err)
		}
	}
	return nil
}
