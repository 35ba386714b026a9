// Package mongodb finds MongoDB servers (and FerretDB, which speaks their
// wire protocol) that let anyone in: isMaster and buildInfo say what
// answers, listDatabases proves access (code 13 Unauthorized: a password is
// required), and a read-only session lists databases and collections with
// their sizes and samples documents with bounded finds. The wire protocol
// and BSON are hand-written here: every length a peer sends is checked
// against a cap before anything is read.
package mongodb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Driver is the MongoDB driver.
type Driver struct{}

// Name implements datastore.Driver.
func (Driver) Name() string { return "mongodb" }

// DefaultPorts implements datastore.Driver: 27017 speaks TLS or not, as
// the server is configured; the look tells which.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{{Number: 27017, Protocol: "mongodb"}}
}

// Schemes implements datastore.Driver.
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "mongodb", Port: 27017}}
}

// httpOnNativePort is what mongod answers an HTTP request on its native
// port.
var httpOnNativePort = []byte("looks like you are trying to access MongoDB over HTTP")

// Probe implements datastore.Driver. MongoDB never speaks first; mongod
// answers the look's HTTP request with a page naming itself, FerretDB
// closes the connection. Either way the probe asks isMaster (OP_QUERY,
// which every version answers), then buildInfo, then listDatabases as
// nobody: its answer or code 13 says whether a password is required.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	if look.Banner != nil || look.Silent {
		return nil, nil
	}
	if look.HTTP != nil && !bytes.Contains(look.HTTP.Body, httpOnNativePort) {
		return nil, nil
	}
	tries := []bool{look.TLS}
	if look.Err == nil && !look.TLS && look.HTTP == nil && look.Reply == nil && !look.Closed {
		tries = []bool{false, true} // no look: plaintext, then TLS if the peer hung up on it
	}
	var lastErr error
	for _, useTLS := range tries {
		svc, err := probeOnce(ctx, ep, useTLS, timeout)
		if svc != nil || err == nil {
			return svc, err
		}
		lastErr = err
		var ne interface{ Timeout() bool }
		if errors.Is(err, errProtocol) || (errors.As(err, &ne) && ne.Timeout()) || ctx.Err() != nil {
			break
		}
	}
	if errors.Is(lastErr, errProtocol) || errors.Is(lastErr, errBSON) {
		return nil, nil
	}
	return nil, lastErr
}

func probeOnce(ctx context.Context, ep datastore.Endpoint, useTLS bool, timeout time.Duration) (*datastore.Service, error) {
	w, err := dial(ctx, ep, useTLS, timeout)
	if err != nil {
		return nil, err
	}
	defer w.close()
	disarm := w.arm(ctx, timeout)
	defer disarm()
	hello, err := w.hello()
	var ce *CommandError
	if errors.As(err, &ce) || (err == nil && !isHello(hello)) {
		return nil, nil // a peer that answers in BSON but is no MongoDB
	}
	if err != nil {
		return nil, err
	}
	svc := &datastore.Service{Endpoint: ep, Engine: "mongodb", Protocol: "mongodb", TLS: useTLS, DisplayName: "MongoDB", Auth: datastore.AuthUnknown}
	if bi, err := w.command("admin", doc{{"buildInfo", int32(1)}}, 1<<20); err == nil {
		describe(svc, bi)
	} else {
		svc.Notes = append(svc.Notes, "buildInfo refused: "+err.Error())
	}
	if !w.opMsg {
		svc.Notes = append(svc.Notes, fmt.Sprintf("maxWireVersion %d: a server older than MongoDB 3.6, spoken to with OP_QUERY", hello.Int("maxWireVersion")))
	}
	if !useTLS {
		svc.Notes = append(svc.Notes, "the server speaks plaintext: logins and data cross the network unencrypted")
	}
	_, err = w.command("admin", doc{{"listDatabases", int32(1)}, {"nameOnly", true}}, 4<<20)
	switch {
	case err == nil:
		svc.Auth = datastore.AuthNone
		svc.AuthMessage = svc.DisplayName + " listed its databases to a client that sent no credentials: access control is off"
	case errors.As(err, &ce) && (ce.Code == codeUnauthorized || ce.Code == codeAuthFailed):
		svc.Auth, svc.AuthCode, svc.AuthMessage = datastore.AuthRequired, ce.Code, ce.Message
	case errors.As(err, &ce):
		svc.AuthCode, svc.AuthMessage = ce.Code, ce.Message
	default:
		svc.Notes = append(svc.Notes, "listDatabases got no answer: "+err.Error())
	}
	return svc, nil
}

// isHello reports whether an isMaster answer is MongoDB's: it says
// whether the server is the primary and which wire versions it speaks.
func isHello(d Document) bool {
	_, a := d.Get("ismaster")
	_, b := d.Get("isWritablePrimary")
	_, c := d.Get("maxWireVersion")
	return (a || b) && c
}

// describe sets the version and display name from buildInfo: FerretDB
// adds ferretdbVersion beside the MongoDB version it mimics.
func describe(svc *datastore.Service, bi Document) {
	svc.Version = clean(bi.Str("version"), 40)
	if fv := bi.Str("ferretdbVersion"); fv != "" {
		svc.DisplayName = "FerretDB " + clean(fv, 40)
		svc.Notes = append(svc.Notes, fmt.Sprintf("FerretDB %s, answering as MongoDB %s", clean(fv, 40), svc.Version))
	}
}

// Open implements datastore.Driver: a session on a server that let us in
// without credentials. Every command it sends reads; none writes.
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	s, err := open(ctx, svc, timeout)
	if err != nil {
		return nil, err
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

// clean makes a server's string safe to keep short: at most n bytes, cut
// on a rune boundary.
func clean(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s[:n])
	return string(r[:len(r)-1]) + "…"
}
