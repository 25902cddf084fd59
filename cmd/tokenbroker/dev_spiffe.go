package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// The dev mode's demo SPIFFE trust domain: an X.509 CA and a JWT key in the
// state directory, published to the broker as a local bundle file.
const (
	devTrustDomain    = "tokenbroker.test"
	devSPIFFECA       = "spiffe-ca.pem"
	devSPIFFECAKey    = "spiffe-ca-key.pem"
	devSPIFFEJWTKey   = "spiffe-jwt-key.pem"
	devSPIFFEBundle   = "spiffe-bundle.json"
	devSPIFFEJWTKeyID = "tokenbroker-dev-jwt-1"
	demoX509SVIDID    = "spiffe://" + devTrustDomain + "/ns/demo/sa/x509-svid"
	demoJWTSVIDID     = "spiffe://" + devTrustDomain + "/ns/demo/sa/jwt-svid"
)

// demoSPIFFEKey is the client_id a demo workload is registered under.
func demoSPIFFEKey(id string) string {
	k, _ := spiffe.ClientKey(spiffeid.RequireFromString(id))
	return k
}

// ensureDevSPIFFE creates (first run) or loads the demo trust domain's CA
// and JWT key, and writes its bundle file.
func ensureDevSPIFFE(dir string) (*certs.CA, error) {
	ca, err := loadOrCreateCA(dir, devSPIFFECA, devSPIFFECAKey, "tokenbroker dev SPIFFE CA ("+devTrustDomain+")")
	if err != nil {
		return nil, err
	}
	key, err := devJWTKey(dir)
	if err != nil {
		return nil, err
	}
	td := spiffeid.RequireTrustDomainFromString(devTrustDomain)
	b := spiffebundle.New(td)
	b.AddX509Authority(ca.Cert)
	if err := b.AddJWTAuthority(devSPIFFEJWTKeyID, key.Public()); err != nil {
		return nil, err
	}
	b.SetRefreshHint(time.Minute)
	j, err := b.Marshal()
	if err != nil {
		return nil, err
	}
	return ca, writeFiles(dir, map[string][]byte{devSPIFFEBundle: j})
}

// devJWTKey loads or creates the demo trust domain's JWT-SVID signing key.
func devJWTKey(dir string) (crypto.Signer, error) {
	p := filepath.Join(dir, devSPIFFEJWTKey)
	if fileExists(p) {
		b, err := config.ReadLimited(p, 64<<10)
		if err != nil {
			return nil, err
		}
		return certs.ParsePrivateKeyPEM(b)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pemb, err := certs.MarshalPrivateKeyPEM(k)
	if err != nil {
		return nil, err
	}
	return k, writeFiles(dir, map[string][]byte{devSPIFFEJWTKey: pemb})
}

// demoX509SVID issues the demo workload's X.509-SVID from the demo trust
// domain's CA (X509-SVID §4: one URI SAN, digitalSignature, not a CA).
func demoX509SVID(ca *certs.CA) (certPEM, keyPEM []byte, err error) {
	if ca == nil {
		return nil, nil, errors.New("no demo SPIFFE CA")
	}
	return ca.Issue(certs.Leaf{CommonName: "demo x509-svid", URIs: []string{demoX509SVIDID}, Client: true, Validity: 365 * 24 * time.Hour})
}

// mintJWTSVID signs a JWT-SVID for id with the demo trust domain's key
// (JWT-SVID §3: sub, aud, exp, iat; kid; typ JWT; no iss, no jti).
func mintJWTSVID(stateDir, id, aud string, life time.Duration) (string, error) {
	sid, err := spiffeid.FromString(id)
	if err != nil {
		return "", fmt.Errorf("--jwt-svid: %w", err)
	}
	key, err := devJWTKey(stateDir)
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), devSPIFFEJWTKeyID))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(sig).Claims(jwt.Claims{Subject: sid.String(), Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(life))}).Serialize()
}
