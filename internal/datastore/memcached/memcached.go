// Package memcached finds Memcached servers that anyone can read. The text
// protocol has no authentication at all: a server that answers it lets
// everyone read, write and flush it. Only a server built with SASL and
// started with -S asks for credentials, and then only in the binary
// protocol, which the probe speaks for that reason. A session lists keys
// with lru_crawler metadump (bounded), counts them per key pattern
// (session:*, cache:prompt:*) and reads a few values of each with get.
package memcached

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Driver is the Memcached driver.
type Driver struct{}

// Name implements datastore.Driver.
func (Driver) Name() string { return "memcached" }

// DefaultPorts implements datastore.Driver.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 11211, Protocol: "memcached"}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "memcached", Port: 11211}}
}

// anonymous is who the scanner is: memcached's text protocol knows no user.
const anonymous = "anonymous"

func zero(l datastore.FirstLook) bool {
	return l.Banner == nil && l.HTTP == nil && l.Reply == nil && !l.TLS && !l.Silent && !l.Closed && l.Err == nil
}

// Probe implements datastore.Driver. Memcached says nothing first; to the
// look's HTTP request 1.6 closes the connection, and older servers answer
// ERROR for every line. The probe then asks "version" in the binary
// protocol, which a SASL-only server answers too, then "stat": a refusal
// with status 0x20 is "required". A server that speaks text only is asked
// "version" in text.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	if !zero(look) {
		if look.HTTP != nil || look.Banner != nil || look.TLS || look.Silent || look.Err != nil {
			return nil, nil
		}
		if look.Reply != nil && !strings.HasPrefix(string(look.Reply), "ERROR\r\n") && !strings.HasPrefix(string(look.Reply), "CLIENT_ERROR") {
			return nil, nil
		}
	}
	svc, err := probeBinary(ctx, ep, timeout)
	if svc != nil || ctx.Err() != nil || !errors.Is(err, errProtocol) {
		return svc, err
	}
	return probeText(ctx, ep, timeout)
}

func service(ep datastore.Endpoint, version string) *datastore.Service {
	return &datastore.Service{Endpoint: ep, Engine: "memcached", Protocol: "memcached", Version: version,
		DisplayName: "Memcached", User: anonymous, Auth: datastore.AuthUnknown,
		Notes: []string{"memcached speaks plaintext: keys and values cross the network unencrypted"}}
}

func probeBinary(ctx context.Context, ep datastore.Endpoint, timeout time.Duration) (*datastore.Service, error) {
	c, err := dial(ctx, ep.Addr(), timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	h, body, err := c.binExchange(ctx, opVersion)
	if err != nil {
		if isTimeout(err) {
			// Silence to a binary request: a text-only server waits for
			// its line end, a tarpit for ever. The text probe tells.
			return nil, fmt.Errorf("binary version: %w (%v)", errProtocol, err)
		}
		return nil, fmt.Errorf("binary version: %w", errProtocol)
	}
	if h.status != statusOK || !versionLike(string(body)) {
		return nil, fmt.Errorf("binary version: status %#x: %w", h.status, errProtocol)
	}
	svc := service(ep, string(body))
	h, body, err = c.binExchange(ctx, opStat)
	switch {
	case err != nil:
		svc.Notes = append(svc.Notes, fmt.Sprintf("stat got no answer: %v", err))
	case h.status == statusOK:
		// The stats follow; the connection is closed on them. Access is
		// proven in text, which sessions speak.
		return proveText(ctx, svc, timeout)
	case h.status == statusAuth:
		svc.Auth, svc.AuthCode = datastore.AuthRequired, int(h.status)
		svc.AuthMessage = "SASL authentication required: " + clip(printable(string(body)), 100)
	default:
		svc.AuthCode, svc.AuthMessage = int(h.status), clip(printable(string(body)), 100)
	}
	return svc, nil
}

// proveText proves access in the text protocol: "version" answered.
func proveText(ctx context.Context, svc *datastore.Service, timeout time.Duration) (*datastore.Service, error) {
	c, err := dial(ctx, svc.Endpoint.Addr(), timeout)
	if err != nil {
		return svc, nil
	}
	defer c.close()
	if _, err := c.version(ctx); err != nil {
		svc.Notes = append(svc.Notes, fmt.Sprintf("the text protocol did not answer version: %v", err))
		return svc, nil
	}
	svc.Auth = datastore.AuthNone
	svc.AuthMessage = "memcached answered the text protocol, which has no authentication"
	return svc, nil
}

func probeText(ctx context.Context, ep datastore.Endpoint, timeout time.Duration) (*datastore.Service, error) {
	c, err := dial(ctx, ep.Addr(), timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	v, err := c.version(ctx)
	if err != nil {
		if errors.Is(err, errProtocol) {
			return nil, nil
		}
		var se *ServerError
		if errors.As(err, &se) {
			return nil, nil // ERROR to "version": not memcached
		}
		return nil, err
	}
	svc := service(ep, v)
	svc.Auth = datastore.AuthNone
	svc.AuthMessage = "memcached answered the text protocol, which has no authentication"
	return svc, nil
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// Open implements datastore.Driver: a text-protocol session.
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no session: access was not proven (auth %s)", svc.Endpoint, svc.Auth)
	}
	s := &Session{svc: svc, timeout: timeout}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}
