package certs

import (
	"crypto/x509"
	"net"
	"strings"
)

// SAN kinds a tls_client_auth client can register (RFC 8705 §2.1.2).
const (
	SANDNS   = "dns"
	SANURI   = "uri"
	SANIP    = "ip"
	SANEmail = "email"
)

// MatchSAN reports whether the certificate carries the subject alternative
// name want of the given kind. Matching is exact (no wildcard expansion: the
// registered value identifies one client); DNS names and email domains are
// compared case-insensitively, URIs (SPIFFE IDs) exactly, IPs by value.
func MatchSAN(c *x509.Certificate, kind, want string) bool {
	if want == "" {
		return false
	}
	switch kind {
	case SANDNS:
		for _, n := range c.DNSNames {
			if strings.EqualFold(n, want) {
				return true
			}
		}
	case SANURI:
		for _, u := range c.URIs {
			if u.String() == want {
				return true
			}
		}
	case SANIP:
		ip := net.ParseIP(want)
		for _, n := range c.IPAddresses {
			if ip != nil && n.Equal(ip) {
				return true
			}
		}
	case SANEmail:
		wl, wd, ok := strings.Cut(want, "@")
		if !ok {
			return false
		}
		for _, e := range c.EmailAddresses {
			l, d, ok := strings.Cut(e, "@")
			if ok && l == wl && strings.EqualFold(d, wd) {
				return true
			}
		}
	}
	return false
}
