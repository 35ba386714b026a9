package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on what one answer may cost.
const (
	maxHeaderBytes = 32 << 10
	// smallAnswer bounds answers that hold no values: /version, status,
	// counts, one key name, an error.
	smallAnswer = 64 << 10
)

// client speaks etcd's v3 JSON gateway (grpc-gateway) over HTTP: POSTs of
// JSON to {api}/kv/range and {api}/maintenance/status, which only read,
// and GET /version. Every answer is read through a cap and within the
// timeout; nothing else is ever sent.
type client struct {
	base    string // scheme://ip:port
	api     string // /v3, /v3beta or /v3alpha, by the server's version
	http    *http.Client
	timeout time.Duration
}

func newClient(ep datastore.Endpoint, useTLS bool, timeout time.Duration) *client {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, // we assess the server, we do not trust it
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		DisableCompression:     true,
		MaxIdleConnsPerHost:    2,
		Proxy:                  nil, // a scanner reaches the target itself, never through an environment proxy
	}
	return &client{
		base:    scheme + "://" + ep.Addr(),
		api:     "/v3",
		http:    &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		timeout: timeout,
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// answer is one bounded read of a response.
type answer struct {
	status int
	body   []byte
	cut    bool // the body went past the cap: body holds its start
}

// do sends one request and reads at most limit bytes of the answer's
// body, all within the client's timeout.
func (c *client) do(ctx context.Context, method, path string, body []byte, limit int64) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("User-Agent", datastore.LookUserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	a := answer{status: resp.StatusCode, body: b}
	if int64(len(b)) > limit {
		a.body, a.cut = b[:limit], true
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("reading %s: %w", path, err)
	}
	return a, nil
}

// ServerError is an error etcd's gateway answered with: a gRPC code and
// etcd's message ("etcdserver: user name is empty").
type ServerError struct {
	Status  int
	Code    int
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("etcd answered HTTP %d, gRPC code %d: %s", e.Status, e.Code, e.Message)
}

// errorOf reads a gateway error: {"error": …, "code": N, "message": …}.
func errorOf(a answer) error {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	if a.cut || json.Unmarshal(a.body, &e) != nil || (e.Error == "" && e.Message == "") {
		return fmt.Errorf("HTTP %d, not an etcd gateway answer: %.80q", a.status, a.body)
	}
	msg := e.Message
	if msg == "" {
		msg = e.Error
	}
	return &ServerError{Status: a.status, Code: e.Code, Message: clip(msg, 300)}
}

// post sends a JSON request to the gateway and decodes a 200 answer into
// out; any other answer is the server's error.
func (c *client) post(ctx context.Context, path string, req any, limit int64, out any) (int64, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	a, err := c.do(ctx, http.MethodPost, c.api+path, body, limit)
	if err != nil {
		return 0, err
	}
	n := int64(len(a.body))
	if a.status != http.StatusOK {
		return n, errorOf(a)
	}
	if a.cut {
		// A 200 answer all the same: what was asked was granted.
		return n, fmt.Errorf("%s: the answer went past %d bytes: %w", path, limit, errTooLarge)
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return n, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

var errTooLarge = errors.New("answer too large")

// version is what GET /version says.
type version struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// parseVersion reads /version's answer: both fields present, each a
// version number, or it is not etcd.
func parseVersion(b []byte) (version, bool) {
	var v version
	if err := json.Unmarshal(b, &v); err != nil {
		return version{}, false
	}
	if !versionLike(v.Server) || !versionLike(v.Cluster) {
		return version{}, false
	}
	return v, true
}

func versionLike(s string) bool {
	if s == "" || len(s) > 40 || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// apiPrefix is the gateway's path for a server version: /v3 from 3.4,
// /v3beta on 3.3, /v3alpha before.
func apiPrefix(server string) string {
	maj, rest, _ := strings.Cut(server, ".")
	min, _, _ := strings.Cut(rest, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	switch {
	case err1 != nil || err2 != nil || a > 3 || (a == 3 && b >= 4):
		return "/v3"
	case a == 3 && b == 3:
		return "/v3beta"
	}
	return "/v3alpha"
}

// rangeRequest is the gateway's RangeRequest; keys are base64 in JSON.
type rangeRequest struct {
	Key          []byte `json:"key"`
	RangeEnd     []byte `json:"range_end,omitempty"`
	Limit        int64  `json:"limit,omitempty"`
	KeysOnly     bool   `json:"keys_only,omitempty"`
	CountOnly    bool   `json:"count_only,omitempty"`
	Serializable bool   `json:"serializable,omitempty"`
}

type header struct {
	ClusterID string `json:"cluster_id"`
	MemberID  string `json:"member_id"`
	Revision  string `json:"revision"`
}

type keyValue struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

type rangeResponse struct {
	Header header     `json:"header"`
	KVs    []keyValue `json:"kvs"`
	More   bool       `json:"more"`
	Count  string     `json:"count"`
}

// parseRange reads a range answer (int64s are strings in the gateway's
// JSON, bytes base64).
func parseRange(b []byte) (rangeResponse, error) {
	var r rangeResponse
	err := json.Unmarshal(b, &r)
	return r, err
}

// rangeOf reads keys in [key, end) ("\x00" as end: to the last key).
func (c *client) rangeOf(ctx context.Context, req rangeRequest, limit int64) (rangeResponse, int64, error) {
	req.Serializable = true // served from the member's own store: no consensus round, nothing written
	var r rangeResponse
	n, err := c.post(ctx, "/kv/range", req, limit, &r)
	return r, n, err
}

// count is how many keys [key, end) holds.
func (c *client) count(ctx context.Context, key, end []byte) (int64, string, error) {
	r, _, err := c.rangeOf(ctx, rangeRequest{Key: key, RangeEnd: end, CountOnly: true}, smallAnswer)
	if err != nil {
		return -1, "", err
	}
	return datastore.ParseCount(r.Count), r.Header.Revision, nil
}

type status struct {
	Header  header `json:"header"`
	Version string `json:"version"`
	DBSize  string `json:"dbSize"`
	InUse   string `json:"dbSizeInUse"`
	Leader  string `json:"leader"`
}

func (c *client) status(ctx context.Context) (status, error) {
	var s status
	_, err := c.post(ctx, "/maintenance/status", struct{}{}, smallAnswer, &s)
	return s, err
}

// allKeys is the range of every key: from "\x00" to the end.
var allKeys = []byte{0}

// prefixEnd is the first key after every key starting with p, or "\x00"
// (the end) when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
