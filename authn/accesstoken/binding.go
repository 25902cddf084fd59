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
	// ErrProofRequired: the token is bound to a DPoP key (cnf.jkt) and the
	// request carried no verified proof (RFC 9449 §7.1: not as a bearer token).
	ErrProofRequired = errors.New("DPoP-bound token presented without a DPoP proof")
	// ErrProofKeyMismatch: the request's proof was made with another key
	// than the token's (RFC 9449 §4.3 item 12, §6.1).
	ErrProofKeyMismatch = errors.New("token is bound to another DPoP key")
)

// Bound reports whether c is bound to a certificate (cnf.x5t#S256, RFC 8705 §3.1).
func (c *Claims) Bound() bool { return c.Cnf != nil && c.Cnf.X5tS256 != "" }

// DPoPBound reports whether c is bound to a DPoP key (cnf.jkt, RFC 9449 §6.1).
func (c *Claims) DPoPBound() bool { return c.Cnf != nil && c.Cnf.JKT != "" }

// CheckBinding checks RFC 8705 §3: a certificate-bound token is accepted
// only from a request presenting that certificate (p, from
// certs.FromRequest; nil when none). An unbound token passes. A DPoP-bound
// token never passes here (ErrProofRequired): a request with a proof is
// checked by CheckBindings.
func (c *Claims) CheckBinding(p *certs.Presented) error { return c.CheckBindings(p, "") }

// CheckBindings checks every binding c carries: cnf.x5t#S256 against the
// certificate p (RFC 8705 §3) and cnf.jkt against proofJKT, the thumbprint
// of the request's verified DPoP proof key ("" when it carried none; RFC
// 9449 §4.3 item 12, §7.1). An unbound token passes.
func (c *Claims) CheckBindings(p *certs.Presented, proofJKT string) error {
	if c.Bound() {
		if p == nil {
			return ErrCertificateRequired
		}
		if subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(c.Cnf.X5tS256)) != 1 {
			return ErrCertificateMismatch
		}
	}
	if c.DPoPBound() {
		if proofJKT == "" {
			return ErrProofRequired
		}
		if subtle.ConstantTimeCompare([]byte(proofJKT), []byte(c.Cnf.JKT)) != 1 {
			return ErrProofKeyMismatch
		}
	}
	return nil
}
