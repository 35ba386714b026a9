package datastore

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"
)

// Cert is what a server's TLS certificate says about it: who it claims to
// be, who vouches for it, and for how long. It is recorded, never trusted:
// scanners connect whatever the certificate says.
type Cert struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	SelfSigned bool      `json:"self_signed"`
	SHA256     string    `json:"sha256"` // hex SHA-256 of the DER certificate, as browsers show it
	// SANs are the names the certificate is valid for (DNS names, IP
	// addresses, e-mail addresses, URIs), at most maxCertSANs of them.
	SANs          []string `json:"sans,omitempty"`
	SANsTruncated bool     `json:"sans_truncated,omitempty"`
}

// Caps on what a certificate, which the peer chose, adds to a finding.
const (
	maxCertName = 256 // bytes of a subject, an issuer or one SAN
	maxCertSANs = 16
)

// CertOf records c. Every string is capped; escaping is left to the
// writers, which escape every string a server sent.
func CertOf(c *x509.Certificate) *Cert {
	sum := sha256.Sum256(c.Raw)
	out := &Cert{
		Subject:   capName(c.Subject.String()),
		Issuer:    capName(c.Issuer.String()),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(sum[:]),
	}
	// Self-signed: it names itself as issuer and its own key verifies its
	// signature (whether or not it claims to be a CA, as many self-made
	// server certificates do not).
	out.SelfSigned = string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	add := func(s string) {
		if len(out.SANs) == maxCertSANs {
			out.SANsTruncated = true
			return
		}
		out.SANs = append(out.SANs, capName(s))
	}
	for _, n := range c.DNSNames {
		add(n)
	}
	for _, ip := range c.IPAddresses {
		add(ip.String())
	}
	for _, e := range c.EmailAddresses {
		add(e)
	}
	for _, u := range c.URIs {
		add(u.String())
	}
	return out
}

// capName cuts s to maxCertName bytes on a rune boundary, saying so.
func capName(s string) string {
	if len(s) <= maxCertName {
		return s
	}
	cut := maxCertName
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
