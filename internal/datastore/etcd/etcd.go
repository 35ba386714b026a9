// Package etcd finds etcd servers that anyone can read: GET /version
// fingerprints the server, one unauthenticated range read of a single key
// name proves access (or draws etcd's "user name is empty" when auth is on),
// and a read-only session counts keys per prefix and reads a few values of
// each, through the v3 JSON gateway. Kubernetes keeps its Secrets under
// /registry/secrets/: an open etcd hands every one of them over.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Driver is the etcd driver.
type Driver struct{}

// Name implements datastore.Driver.
func (Driver) Name() string { return "etcd" }

// DefaultPorts implements datastore.Driver: clients speak to 2379, over
// TLS or not (Look tells).
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 2379, Protocol: "http"}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "etcd", Port: 2379}, {Name: "etcds", Port: 2379, TLS: true}}
}

// anonymous is who the scanner is to etcd: it sends no user name.
const anonymous = "anonymous"

// zero reports whether no look was taken.
func zero(l datastore.FirstLook) bool {
	return l.Banner == nil && l.HTTP == nil && l.Reply == nil && !l.TLS && !l.Silent && !l.Closed && l.Err == nil
}

// Probe implements datastore.Driver. etcd answers "404 page not found" on
// /, so only a port whose look saw a 404 is asked GET /version; with no
// look, the probe asks itself, in plaintext and then over TLS.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	if !zero(look) {
		if look.HTTP == nil || look.HTTP.Status != http.StatusNotFound {
			return nil, nil
		}
		return probe(ctx, ep, look.TLS, look.Cert, timeout)
	}
	svc, err := probe(ctx, ep, false, nil, timeout)
	if svc != nil || ctx.Err() != nil {
		return svc, err
	}
	var se *ServerError
	if errors.As(err, &se) || errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	// A TLS port closes on, or answers 400 to, a plaintext request.
	return probe(ctx, ep, true, nil, timeout)
}

// probe asks /version, then proves access with a range read of one key
// name.
func probe(ctx context.Context, ep datastore.Endpoint, useTLS bool, cert *datastore.Cert, timeout time.Duration) (*datastore.Service, error) {
	c := newClient(ep, useTLS, timeout)
	defer c.close()
	a, err := c.do(ctx, http.MethodGet, "/version", nil, 4<<10)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK || a.cut {
		return nil, nil
	}
	v, ok := parseVersion(a.body)
	if !ok {
		return nil, nil
	}
	c.api = apiPrefix(v.Server)
	svc := &datastore.Service{Endpoint: ep, Engine: "etcd", Protocol: "http", TLS: useTLS, Cert: cert,
		Version: v.Server, DisplayName: "etcd", User: anonymous, Auth: datastore.AuthUnknown}
	if !useTLS {
		svc.Notes = append(svc.Notes, "the client port speaks plaintext HTTP: keys and values cross the network unencrypted")
	}
	_, _, err = c.rangeOf(ctx, rangeRequest{Key: allKeys, RangeEnd: allKeys, Limit: 1, KeysOnly: true}, smallAnswer)
	var se *ServerError
	switch {
	case err == nil || errors.Is(err, errTooLarge): // a 200 answer, however long
		svc.Auth = datastore.AuthNone
		svc.AuthMessage = "etcd answered a range read sent without credentials: its auth is off"
	case errors.As(err, &se) && authError(se):
		svc.Auth, svc.AuthCode, svc.AuthMessage = datastore.AuthRequired, se.Code, se.Message
	case errors.As(err, &se):
		svc.AuthCode, svc.AuthMessage = se.Code, se.Message
	default:
		svc.Notes = append(svc.Notes, fmt.Sprintf("the range read that proves access got no answer: %v", err))
	}
	return svc, nil
}

// authError reports whether etcd refused for want of credentials: "user
// name is empty" (auth on, no token), "invalid auth token", "permission
// denied"; gRPC codes 3 (InvalidArgument), 7 (PermissionDenied) and 16
// (Unauthenticated) carry them.
func authError(e *ServerError) bool {
	m := strings.ToLower(e.Message)
	for _, s := range []string{"user name is empty", "invalid auth token", "permission denied", "authentication", "auth token"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return e.Code == 16 || e.Code == 7
}

// Open implements datastore.Driver: a session on a server whose auth was
// proven off.
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no session: access was not proven (auth %s)", svc.Endpoint, svc.Auth)
	}
	c := newClient(svc.Endpoint, svc.TLS, timeout)
	c.api = apiPrefix(svc.Version)
	return &Session{svc: svc, c: c}, nil
}
