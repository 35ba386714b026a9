package elasticsearch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
)

// client speaks HTTP to one server with the standard library's client,
// bounded: every request has a deadline, no redirect is followed, no
// proxy is used, answers are never decompressed (no gzip bomb), headers
// are capped at 64 KB and a body is read up to the cap its caller gives.
type client struct {
	base    string // scheme://host:port
	hc      *http.Client
	tr      *http.Transport
	timeout time.Duration
}

// errTooLarge marks an answer cut at its cap.
var errTooLarge = errors.New("answer larger than the cap")

func newClient(ep datastore.Endpoint, useTLS bool, timeout time.Duration) *client {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	d := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: d.DialContext,
		// We assess the server, we do not trust it: its certificate is
		// recorded by the first look, not verified.
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        30 * time.Second,
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &client{base: scheme + "://" + ep.Addr(), hc: hc, tr: tr, timeout: timeout}
}

func (c *client) close() { c.tr.CloseIdleConnections() }

// answer is one HTTP answer, its body read up to a cap.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// get sends GET path; with a body, the request carries it as JSON (a GET
// with a body: Elasticsearch's documented form for _search, _count and
// _has_privileges, all read-only).
func (c *client) get(ctx context.Context, path string, body []byte, max int64, timeout time.Duration) (*answer, error) {
	return c.do(ctx, http.MethodGet, path, body, max, timeout)
}

// do sends one request. Only GET is ever sent (see get); method is a
// parameter for the tests of the guard alone.
func (c *client) do(ctx context.Context, method, path string, body []byte, max int64, timeout time.Duration) (*answer, error) {
	if method != http.MethodGet {
		return nil, fmt.Errorf("method %s: the driver sends GET only", method)
	}
	if timeout <= 0 || timeout > c.timeout {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", datastore.LookUserAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, cleanErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	a := &answer{status: resp.StatusCode, header: resp.Header, body: b}
	if err != nil {
		return a, cleanErr(err)
	}
	if int64(len(b)) > max {
		a.body = b[:max]
		return a, fmt.Errorf("GET %s: %w of %d bytes", clip(path, 80), errTooLarge, max)
	}
	return a, nil
}

// cleanErr drops the URL net/http puts in its errors (it holds the
// request's path, which may hold a hostile index name).
func cleanErr(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.HasPrefix(err.Error(), "Get ") {
		if inner := errors.Unwrap(err); inner != nil {
			return inner
		}
	}
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
