package accesstoken

import (
	"crypto/subtle"
	"errors"

	"github.com/tokenbroker/tokenbroker/certs"
)

// Why CheckBinding refused a certificate-bound token.
var (
	// ErrCertificateRequired: the token is bound and the request presented no certificate.
	ErrCertificateRequired = errors.New("certificate-bound token presented without a client certificate")
	// ErrCertificateMismatch: the request presented another certificate than the token's.
	ErrCertificateMismatch = errors.New("token is bound to another certificate")
)

// Bound reports whether c is bound to a certificate (cnf.x5t#S256, RFC 8705 §3.1).
func (c *Claims) Bound() bool { return c.Cnf != nil && c.Cnf.X5tS256 != "" }

// CheckBinding checks RFC 8705 §3: a certificate-bound token is accepted
// only from a request presenting that certificate (p, from
// certs.FromRequest; nil when none). An unbound token passes.
func (c *Claims) CheckBinding(p *certs.Presented) error {
	if !c.Bound() {
		return nil
	}
	if p == nil {
		return ErrCertificateRequired
	}
	if subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(c.Cnf.X5tS256)) != 1 {
		return ErrCertificateMismatch
	}
	return nil
}
