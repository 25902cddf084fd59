package spiffetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// CA is one trust domain's X.509 and JWT authorities. Rotate adds a new
// authority and makes it the issuing one; Drop removes one from the bundle.
type CA struct {
	TD spiffeid.TrustDomain

	mu      sync.Mutex
	x509    []*authority // issuing is the last
	jwtKeys []*jwtKey
	seq     uint64
	hint    time.Duration
}

type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type jwtKey struct {
	kid string
	key *ecdsa.PrivateKey
}

// NewCA returns the CA of trust domain td with one X.509 and one JWT authority.
func NewCA(td string) (*CA, error) {
	t, err := spiffeid.TrustDomainFromString(td)
	if err != nil {
		return nil, err
	}
	ca := &CA{TD: t, hint: time.Minute}
	if err := ca.Rotate(); err != nil {
		return nil, err
	}
	return ca, nil
}

// Rotate adds a new X.509 authority and a new JWT key, both issuing from now on.
func (ca *CA) Rotate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"spiffetest"}, CommonName: ca.TD.Name() + " CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{ca.TD.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	jk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.x509 = append(ca.x509, &authority{cert: cert, key: key})
	ca.jwtKeys = append(ca.jwtKeys, &jwtKey{kid: fmt.Sprintf("key-%d-%x", len(ca.jwtKeys)+1, serial().Int64()), key: jk})
	ca.seq++
	return nil
}

// DropOldest removes the oldest X.509 authority and JWT key from the bundle
// (the end of a rotation); SVIDs they signed no longer verify.
func (ca *CA) DropOldest() error {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if len(ca.x509) < 2 {
		return errors.New("spiffetest: only one authority left")
	}
	ca.x509, ca.jwtKeys = ca.x509[1:], ca.jwtKeys[1:]
	ca.seq++
	return nil
}

// SetRefreshHint sets the bundle's spiffe_refresh_hint.
func (ca *CA) SetRefreshHint(d time.Duration) { ca.mu.Lock(); ca.hint = d; ca.mu.Unlock() }

// Bundle is the trust domain's current bundle.
func (ca *CA) Bundle() *spiffebundle.Bundle {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	b := spiffebundle.New(ca.TD)
	for _, a := range ca.x509 {
		b.AddX509Authority(a.cert)
	}
	for _, k := range ca.jwtKeys {
		_ = b.AddJWTAuthority(k.kid, k.key.Public())
	}
	b.SetSequenceNumber(ca.seq)
	b.SetRefreshHint(ca.hint)
	return b
}

// BundleJSON is the current bundle in the SPIFFE bundle format.
func (ca *CA) BundleJSON() ([]byte, error) { return ca.Bundle().Marshal() }

// Root is the issuing X.509 authority's certificate.
func (ca *CA) Root() *x509.Certificate {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.x509[len(ca.x509)-1].cert
}

// SVIDOption changes an X.509-SVID's template (hostile cases).
type SVIDOption func(*x509.Certificate)

// X509SVID issues an X.509-SVID for id, valid for ttl, signed by the
// issuing authority: a leaf with exactly that URI SAN, digitalSignature,
// not a CA (X509-SVID §4).
func (ca *CA) X509SVID(id spiffeid.ID, ttl time.Duration, opts ...SVIDOption) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"spiffetest"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(ttl),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:                  []*url.URL{id.URL()},
	}
	for _, o := range opts {
		o(tmpl)
	}
	ca.mu.Lock()
	a := ca.x509[len(ca.x509)-1]
	ca.mu.Unlock()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// X509SVIDPEM is X509SVID as PEM certificate and PKCS #8 key (for curl).
func (ca *CA) X509SVIDPEM(id spiffeid.ID, ttl time.Duration) (certPEM, keyPEM []byte, err error) {
	c, err := ca.X509SVID(id, ttl)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), nil
}

// JWTClaims are extra or replaced claims of a JWT-SVID (hostile cases).
type JWTClaims map[string]any

// JWTSVID issues a JWT-SVID for id with audience aud, valid for ttl, signed
// by the issuing JWT key (JWT-SVID §3: alg ES256, kid, typ JWT).
func (ca *CA) JWTSVID(id spiffeid.ID, aud []string, ttl time.Duration, extra ...JWTClaims) (string, error) {
	ca.mu.Lock()
	k := ca.jwtKeys[len(ca.jwtKeys)-1]
	ca.mu.Unlock()
	return SignJWT(k.key, k.kid, id, aud, ttl, extra...)
}

// SignJWT signs a JWT-SVID-shaped token with any key (a forger's, in tests).
func SignJWT(key *ecdsa.PrivateKey, kid string, id spiffeid.ID, aud []string, ttl time.Duration, extra ...JWTClaims) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := map[string]any{"sub": id.String(), "aud": aud, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for _, e := range extra {
		for k, v := range e {
			if v == nil {
				delete(claims, k)
			} else {
				claims[k] = v
			}
		}
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
