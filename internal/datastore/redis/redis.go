// Package redis finds Redis servers that let anyone in: PING proves access
// (NOAUTH: a password is required; the protected-mode DENIED: the server
// refuses our address), INFO names the version, and a read-only session
// judges what the user may run (ACL DRYRUN, COMMAND INFO, never by running
// it), lists the key patterns of every database from a bounded SCAN and
// reads a bounded sample of their values. The RESP2 codec is hand-written
// so that every reply is read under caps (line, bulk, array and depth).
package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Driver is the Redis driver.
type Driver struct{}

// Name implements datastore.Driver.
func (Driver) Name() string { return "redis" }

// DefaultPorts implements datastore.Driver: 6379 speaks plaintext or, with
// tls-port, TLS; the look tells which.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 6379, Protocol: "resp"}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "redis", Port: 6379}, {Name: "rediss", Port: 6379, TLS: true}}
}

// probeCaps bound what a probe reads of one reply.
var probeCaps = caps{line: 4 << 10, bulk: 64 << 10, elems: 16, depth: 2, wire: 128 << 10}

// Probe implements datastore.Driver. Redis never speaks first, except to
// refuse: protected mode writes DENIED as it accepts a client that is not
// local. To the look's "GET / HTTP/1.1" it answers an error (wrong number
// of arguments, or NOAUTH) and hangs up at the Host: line, so a look that
// saw HTTP rules Redis out, and one that saw a RESP error is probed with
// PING on a connection of our own.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	zero := look.Banner == nil && look.HTTP == nil && look.Reply == nil && !look.TLS && !look.Silent && !look.Closed && look.Err == nil
	switch {
	case look.HTTP != nil || look.Silent || look.Err != nil:
		return nil, nil
	case look.Banner != nil:
		if svc := refusal(ep, look.Banner, look.TLS); svc != nil {
			return svc, nil
		}
		return nil, nil
	case look.Reply != nil && !respError(look.Reply):
		return nil, nil
	}
	// Redis 7 answers the look's request line, then hangs up at its Host:
	// header ("possible SECURITY ATTACK") before the answer is flushed: a
	// look that saw a close is probed too.
	svc, err := probeConn(ctx, ep, look.TLS, timeout)
	if look.Closed && svc == nil && err != nil && ctx.Err() == nil {
		// It closes on anything, or says nothing to PING either: not
		// Redis, and no error worth a line for every such port.
		return nil, nil
	}
	if zero && svc == nil && err != nil && !errors.Is(err, errProtocol) {
		// No look: a TLS-only port closes on our plaintext PING.
		if s2, err2 := probeConn(ctx, ep, true, timeout); s2 != nil {
			return s2, err2
		}
	}
	if errors.Is(err, errProtocol) {
		return nil, nil
	}
	if svc == nil && zero {
		return nil, nil // no look and no Redis: not ours to report
	}
	if svc != nil && look.Cert != nil {
		svc.Cert = look.Cert
	}
	return svc, err
}

// respError reports whether b starts with a RESP error line of the kinds
// Redis answers an HTTP request with.
func respError(b []byte) bool {
	for _, p := range []string{"-ERR ", "-NOAUTH ", "-DENIED ", "-NOPERM ", "-WRONGPASS "} {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// refusal is the service a refusal sent before any command describes:
// protected mode's DENIED (the server refuses clients that are not local
// while it has no password), or nil when b is no such refusal.
func refusal(ep datastore.Endpoint, b []byte, useTLS bool) *datastore.Service {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	if bytes.HasPrefix(line, []byte("-DENIED Redis is running in protected mode")) {
		return &datastore.Service{Endpoint: ep, Engine: "redis", Protocol: "resp", TLS: useTLS, DisplayName: "Redis",
			Auth: datastore.AuthIPRestricted, User: "default",
			AuthMessage: "protected mode: no password is set, and only local clients may connect"}
	}
	return nil
}

// probeConn proves access on a connection of its own: PING, then INFO
// server for the version where PING was let through.
func probeConn(ctx context.Context, ep datastore.Endpoint, useTLS bool, timeout time.Duration) (*datastore.Service, error) {
	c, err := dial(ctx, ep, useTLS, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ping, err := c.do(ctx, probeCaps, "PING")
	if err != nil {
		if errors.Is(err, errTooBig) {
			err = fmt.Errorf("%w (%v)", errProtocol, err)
		}
		return nil, err
	}
	svc := &datastore.Service{Endpoint: ep, Engine: "redis", Protocol: "resp", TLS: useTLS, DisplayName: "Redis", User: "default"}
	switch {
	case ping.kind == '+' && ping.str == "PONG":
		svc.Auth = datastore.AuthNone
		svc.AuthMessage = "PING answered without AUTH: user default has no password"
	case ping.isErr():
		e := &replyError{ping.str}
		switch e.code() {
		case "NOAUTH":
			svc.Auth, svc.AuthMessage = datastore.AuthRequired, ping.str
			return svc, nil
		case "DENIED":
			if s := refusal(ep, []byte("-"+ping.str), useTLS); s != nil {
				return s, nil
			}
			return nil, fmt.Errorf("%w: %.80q", errProtocol, ping.str)
		case "NOPERM":
			// In, but as a user that may not even PING.
			svc.Auth, svc.AuthMessage = datastore.AuthNone, "connected without AUTH; "+ping.str
		case "ERR":
			if strings.HasPrefix(ping.str, "ERR operation not permitted") { // before Redis 2.8's NOAUTH
				svc.Auth, svc.AuthMessage = datastore.AuthRequired, ping.str
				return svc, nil
			}
			svc.Auth, svc.AuthMessage = datastore.AuthUnknown, ping.str
			return svc, nil
		default:
			return nil, fmt.Errorf("%w: PING answered %.80q", errProtocol, ping.str)
		}
	default:
		return nil, fmt.Errorf("%w: PING answered a %q reply", errProtocol, ping.kind)
	}
	info, err := c.do(ctx, probeCaps, "INFO", "server")
	if err != nil {
		svc.Notes = append(svc.Notes, fmt.Sprintf("INFO server got no answer: %v", err))
		return svc, nil
	}
	if info.kind == '$' && !info.null {
		f := infoFields(info.str)
		svc.Version = clip(f["redis_version"], 40)
		if v := f["valkey_version"]; v != "" {
			svc.DisplayName, svc.Version = "Valkey", clip(v, 40)
		}
	} else if info.isErr() {
		svc.Notes = append(svc.Notes, "INFO refused: "+clip(info.str, 200))
	}
	if !useTLS {
		svc.Notes = append(svc.Notes, "the server speaks plaintext: commands and data cross the network unencrypted")
	}
	return svc, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Open implements datastore.Driver: a session on a service whose Auth is
// AuthNone, with no AUTH sent (the exposure under test is that none is
// needed).
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no session: access was not proven (auth %s)", svc.Endpoint, svc.Auth)
	}
	s := &Session{svc: svc, timeout: timeout, mem: &memBudget{server: svc.Endpoint.String(), limit: datastore.SessionMemory}}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}
