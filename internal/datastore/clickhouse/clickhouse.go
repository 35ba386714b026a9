// Package clickhouse finds ClickHouse servers on their HTTP and native
// interfaces, proves access as user default with an empty password, and
// inventories and samples them read-only under strict limits.
package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

const (
	clientName  = "leakhound"
	clientMajor = 0
	clientMinor = 1
	clientPatch = 0
	userAgent   = "leakhound/0.1 (read-only exposure scanner)"
	probeUser   = "default"
)

// Driver is the ClickHouse driver.
type Driver struct{}

var _ datastore.Driver = Driver{}

func init() { datastore.Register(Driver{}) }

// Name implements datastore.Driver.
func (Driver) Name() string { return "clickhouse" }

// DefaultPorts implements datastore.Driver.
func (Driver) DefaultPorts() []datastore.Port {
	return []datastore.Port{
		{Number: 8123, Protocol: "http"},
		{Number: 8443, Protocol: "http", TLS: true},
		{Number: 9000, Protocol: "native"},
		{Number: 9440, Protocol: "native", TLS: true},
	}
}

// Schemes implements datastore.Driver: clickhouse:// and clickhouses://
// name the native port, as clickhouse-client's URLs do. (tcp:// once meant
// 9000 too; it is no ClickHouse name, and no longer means anything.)
func (Driver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{
		{Name: "clickhouse", Port: 9000},
		{Name: "clickhouses", Port: 9440, TLS: true},
	}
}

type attempt struct {
	protocol string
	tls      bool
}

// attempts orders the protocols to try on a port: the known one first on a
// default port, otherwise HTTP first, because a native server drops an HTTP
// request at once while an HTTP server waits for the rest of a native Hello.
func attempts(port int) []attempt {
	all := []attempt{{"http", false}, {"native", false}, {"http", true}, {"native", true}}
	for _, p := range (Driver{}).DefaultPorts() {
		if p.Number == port {
			first := attempt{p.Protocol, p.TLS}
			out := []attempt{first}
			for _, a := range all {
				if a != first {
					out = append(out, a)
				}
			}
			return out
		}
	}
	return all
}

// nativeOverHTTP is what ClickHouse's native port answers an HTTP request:
// "Port 9000 is for clickhouse-client program. You must use port 8123 for HTTP."
var nativeOverHTTP = []byte("is for clickhouse-client program")

// fromLook keeps the attempts the first look leaves possible. ClickHouse
// never speaks first, so a banner rules it out; its HTTP interface answers
// any GET, so an HTTP answer is HTTP only, unless it is the native port's
// own refusal of HTTP; a non-HTTP reply or a close without a word is the
// native port's (over TLS, native ClickHouse closes on a GET). A look over
// TLS leaves the TLS attempts, a plaintext one the plaintext attempts. A
// zero look (none taken) leaves every attempt.
func fromLook(all []attempt, look datastore.FirstLook) []attempt {
	var protocol string
	switch {
	case look.Banner != nil:
		return nil
	case look.HTTP != nil && bytes.Contains(look.HTTP.Body, nativeOverHTTP):
		protocol = "native"
	case look.HTTP != nil:
		protocol = "http"
	case look.Reply != nil || look.Closed:
		protocol = "native"
	default:
		return all
	}
	var out []attempt
	for _, a := range all {
		if a.protocol == protocol && a.tls == look.TLS {
			out = append(out, a)
		}
	}
	return out
}

// Probe implements datastore.Driver. It speaks each protocol the first
// look leaves possible in turn, on a fresh connection, and stops at the
// first that proves ClickHouse. A peer that answers nothing at all costs
// one timeout, not four.
func (d Driver) Probe(ctx context.Context, ep datastore.Endpoint, look datastore.FirstLook, timeout time.Duration) (*datastore.Service, error) {
	var errs []error
	answered := false // some protocol got a well-formed answer that was not ClickHouse's
	for _, a := range fromLook(attempts(ep.Port), look) {
		var svc *datastore.Service
		var err error
		if a.protocol == "http" {
			svc, err = probeHTTP(ctx, ep, a.tls, timeout)
		} else {
			svc, err = probeNative(ctx, ep, a.tls, timeout)
		}
		if svc != nil {
			return svc, nil
		}
		if err == nil {
			answered = true
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s%s: %w", a.protocol, tlsSuffix(a.tls), err))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// A peer that lets a request time out is a tarpit or a
			// different protocol waiting for more; more attempts only
			// multiply the wait.
			break
		}
	}
	if len(errs) > 0 && !answered {
		return nil, fmt.Errorf("no protocol answered as ClickHouse (%w)", errors.Join(errs...))
	}
	return nil, nil
}

func tlsSuffix(t bool) string {
	if t {
		return "+tls"
	}
	return ""
}

var versionRe = regexp.MustCompile(`^\d{1,4}\.\d{1,4}(\.\d{1,6}){0,3}$`)

// probeHTTP asks a question only a real ClickHouse answers right: its
// version, its timezone and the sum of two random numbers. An HTTP server
// that answers "Ok." to everything fails the sum.
func probeHTTP(ctx context.Context, ep datastore.Endpoint, useTLS bool, timeout time.Duration) (*datastore.Service, error) {
	h := newHTTPConn(ep.Addr(), useTLS, probeUser, timeout)
	defer h.close()
	a, b := rand.IntN(1<<20), rand.IntN(1<<20)
	question := fmt.Sprintf("SELECT version(), timezone(), %d + %d FORMAT TabSeparated", a, b)
	q := url.Values{"query": {question}}
	// The probe carries limits as every query does; a readonly=1 profile
	// refuses them, and is asked again without (the client-side caps hold).
	limited := url.Values{
		"query":              {question},
		"max_execution_time": {executionSeconds(timeout)},
		"max_result_rows":    {"10"},
		"max_result_bytes":   {strconv.Itoa(probeResultBytes)},
	}
	resp, err := h.get(ctx, limited.Encode(), probeResultBytes)
	if err == nil && resp.status != 200 {
		if e := parseHTTPException(resp); e != nil && refusesSettings(e) {
			resp, err = h.get(ctx, q.Encode(), probeResultBytes)
		}
	}
	if err != nil {
		return nil, err
	}
	svc := &datastore.Service{
		Endpoint: ep, Engine: "clickhouse", Protocol: "http", TLS: useTLS, User: probeUser, Cert: resp.cert,
		DisplayName: printable([]byte(resp.header.Get("X-ClickHouse-Server-Display-Name")), 200),
		Timezone:    printable([]byte(resp.header.Get("X-ClickHouse-Timezone")), 100),
	}
	if resp.status == 200 {
		line := strings.TrimRight(string(resp.body), "\n")
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[2] != strconv.Itoa(a+b) || !versionRe.MatchString(f[0]) {
			return nil, nil // answers HTTP, but not as ClickHouse
		}
		svc.Version, svc.Timezone, svc.Auth = f[0], printable([]byte(f[1]), 100), datastore.AuthNone
		return svc, nil
	}
	e := parseHTTPException(resp)
	if e == nil {
		return nil, nil
	}
	svc.Auth, svc.AuthCode, svc.AuthMessage = authFromCode(e.Code), e.Code, e.Message
	return svc, nil
}

// probeResultBytes bounds the probe's answer, on both sides.
const probeResultBytes = 64 << 10

// executionSeconds is max_execution_time for a timeout: whole seconds,
// at least one, since 0 means no limit.
func executionSeconds(timeout time.Duration) string {
	return strconv.Itoa(max(1, int((timeout+time.Second-1)/time.Second)))
}

// refusesSettings reports whether e is a readonly=1 profile refusing a
// setting (code 164, READONLY, naming the setting).
func refusesSettings(e *ServerError) bool {
	return e.Code == 164 && strings.Contains(strings.ToLower(e.Message), "setting")
}

func probeNative(ctx context.Context, ep datastore.Endpoint, useTLS bool, timeout time.Duration) (*datastore.Service, error) {
	c, cert, err := dialNativeCert(ctx, ep.Addr(), useTLS, probeUser, "", timeout)
	svc := &datastore.Service{Endpoint: ep, Engine: "clickhouse", Protocol: "native", TLS: useTLS, User: probeUser, Cert: cert}
	var se *ServerError
	switch {
	case err == nil:
		defer c.close()
		if v, ok := c.info.version(); ok {
			svc.Version = v
		} else {
			// Numbers only, and at most three of 20 digits: safe to quote.
			svc.Notes = append(svc.Notes, fmt.Sprintf("version unknown: the native Hello announced %s, which no ClickHouse release has", v))
		}
		svc.Timezone = printable([]byte(c.info.Timezone), 100)
		svc.DisplayName = printable([]byte(c.info.DisplayName), 200)
		svc.Auth = datastore.AuthNone
		return svc, nil
	case errors.As(err, &se):
		svc.Auth, svc.AuthCode, svc.AuthMessage = authFromCode(se.Code), se.Code, printable([]byte(se.Message), 300)
		return svc, nil
	case errors.Is(err, errNotClickHouse):
		return nil, nil
	default:
		return nil, err
	}
}

// authFromCode maps ClickHouse's error codes for a refused login.
func authFromCode(code int) datastore.Auth {
	switch code {
	case 192, 193, 194, 516: // UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED
		return datastore.AuthRequired
	case 195: // IP_ADDRESS_NOT_ALLOWED
		return datastore.AuthIPRestricted
	}
	return datastore.AuthUnknown
}

// Open implements datastore.Driver.
func (d Driver) Open(ctx context.Context, svc *datastore.Service, timeout time.Duration) (datastore.Session, error) {
	if svc.Auth != datastore.AuthNone {
		return nil, fmt.Errorf("%s: no proven access (auth %s)", svc.Endpoint, svc.Auth)
	}
	s := &session{svc: svc, timeout: timeout, limitsOK: true, mem: newMemBudget(svc.Endpoint.String(), datastore.SessionMemory)}
	if svc.Protocol == "http" {
		h := newHTTPConn(svc.Endpoint.Addr(), svc.TLS, svc.User, timeout)
		h.mem = s.mem
		s.open = func(context.Context) (conn, error) { return h, nil }
	} else {
		s.native = true
		s.open = func(ctx context.Context) (conn, error) {
			n, err := dialNative(ctx, svc.Endpoint.Addr(), svc.TLS, svc.User, "", timeout)
			if err != nil {
				return nil, err
			}
			n.mem = s.mem
			return n, nil
		}
	}
	c, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: opening a session: %w", svc.Endpoint, err)
	}
	s.c = c
	return s, nil
}
