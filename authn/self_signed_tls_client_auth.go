package authn

import (
	"bytes"
	"context"
	"crypto"
	"errors"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// SelfSignedTLSClientAuth is RFC 8705 §2.2: the presented certificate must be
// one registered in the client's jwks (by x5c) or carry a registered key. No
// chain is checked; the validity period still is.
func SelfSignedTLSClientAuth(keys *KeySource) Method { return &selfSigned{keys: keys} }

type selfSigned struct{ keys *KeySource }

var _ CertificateMethod = (*selfSigned)(nil)

func (*selfSigned) Name() string                          { return backends.AuthSelfSignedTLSClient }
func (*selfSigned) certificateOnly()                      {}
func (*selfSigned) Detect(*Request) (string, bool, error) { return "", false, nil }

func (m *selfSigned) Verify(ctx context.Context, r *Request, e *backends.ClientEntry) error {
	if r.Certificates == nil {
		return errors.New("no client certificate")
	}
	leaf := r.Certificates.Leaf()
	if err := certs.CheckValidity(leaf, r.Now); err != nil {
		return err
	}
	set, err := m.keys.Keys(ctx, e.Client, "")
	if err != nil {
		return err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for _, k := range set {
		for _, c := range k.Certificates {
			if bytes.Equal(c.Raw, leaf.Raw) {
				return nil
			}
		}
		if len(k.Certificates) == 0 {
			if pk, ok := k.Key.(equaler); ok && pk.Equal(leaf.PublicKey) {
				return nil
			}
		}
	}
	return errors.New("certificate is not registered in the client's jwks")
}
