package datastore

import "net/http"

// FirstLook is what one cheap look at an open port saw, shared by every
// driver, so that a port is routed to the drivers that can match it and a
// tarpit costs one timeout whatever the number of drivers.
type FirstLook struct {
	// Banner is what the server sent unasked before we spoke (at most a
	// few KB): MySQL's greeting, an SSH or SMTP banner; nil if none.
	Banner []byte
	// HTTP is set when the port answered an HTTP request.
	HTTP *HTTPLook
	// Reply is a non-HTTP answer to our HTTP request (at most a few KB):
	// PostgreSQL's ErrorResponse, a native protocol's exception.
	Reply []byte
	// TLS: the port completed a TLS handshake; the other fields are then
	// what was seen inside TLS.
	TLS  bool
	Cert *Cert
	// Silent: the port accepted, then said nothing to anything before the
	// deadline (a tarpit, or a firewall that accepts every connection).
	Silent bool
	// Closed: the server closed the connection without a word.
	Closed bool
}

// HTTPLook is the start of an HTTP answer.
type HTTPLook struct {
	Status int
	Header http.Header // capped
	Body   []byte      // the first few KB
}
