package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// Prover makes DPoP proofs (RFC 9449 §4.2) with one key. It is safe for
// concurrent use.
type Prover struct {
	signer jose.Signer
	alg    jose.SignatureAlgorithm
	jkt    string
	now    func() time.Time
}

// ProverOption configures NewProver.
type ProverOption func(*Prover)

// WithProverClock sets the clock the proofs' iat comes from (default time.Now).
func WithProverClock(now func() time.Time) ProverOption {
	return func(p *Prover) {
		if now != nil {
			p.now = now
		}
	}
}

// WithAlgorithm picks the algorithm for an RSA key (RS256 instead of the
// default PS256); for other keys it must be the key's only algorithm.
func WithAlgorithm(alg jose.SignatureAlgorithm) ProverOption {
	return func(p *Prover) { p.alg = alg }
}

// NewProver returns a Prover signing with key: an ECDSA P-256 (ES256) or
// P-384 (ES384), Ed25519 (EdDSA) or RSA ≥ 2048 bits (PS256, or RS256 by
// WithAlgorithm) key, as *ecdsa.PrivateKey, ed25519.PrivateKey,
// *rsa.PrivateKey or any crypto.Signer holding one (a KMS or HSM key).
func NewProver(key crypto.Signer, opts ...ProverOption) (*Prover, error) {
	if key == nil {
		return nil, errors.New("dpop: no key")
	}
	p := &Prover{now: time.Now}
	for _, o := range opts {
		o(p)
	}
	alg, err := algFor(key.Public(), p.alg)
	if err != nil {
		return nil, err
	}
	p.alg = alg
	var k any
	switch key.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
		k = key
	default:
		k = cryptosigner.Opaque(key)
	}
	// RFC 9449 §4.2: typ dpop+jwt, the alg, and the public key as jwk.
	so := (&jose.SignerOptions{EmbedJWK: true}).WithType(Type)
	if p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, so); err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	if p.jkt, err = Thumbprint(&jose.JSONWebKey{Key: key.Public()}); err != nil {
		return nil, err
	}
	return p, nil
}

// algFor is the allow-listed algorithm for pub (want, when set, must fit it).
func algFor(pub crypto.PublicKey, want jose.SignatureAlgorithm) (jose.SignatureAlgorithm, error) {
	var def jose.SignatureAlgorithm
	ok := map[jose.SignatureAlgorithm]bool{}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			def = jose.ES256
		case elliptic.P384():
			def = jose.ES384
		default:
			return "", errors.New("dpop: ECDSA keys must be on P-256 or P-384")
		}
		ok[def] = true
	case ed25519.PublicKey:
		def, ok[jose.EdDSA] = jose.EdDSA, true
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("dpop: RSA keys must have at least %d bits", minRSABits)
		}
		def, ok[jose.PS256], ok[jose.RS256] = jose.PS256, true, true
	default:
		return "", fmt.Errorf("dpop: unsupported key type %T", pub)
	}
	if want == "" {
		return def, nil
	}
	if !ok[want] {
		return "", fmt.Errorf("dpop: algorithm %s does not fit a %T", want, pub)
	}
	return want, nil
}

// minRSABits is the smallest RSA modulus accepted, at both ends.
const minRSABits = 2048

// JKT is the RFC 7638 thumbprint of the Prover's public key, base64url:
// the cnf.jkt of the tokens bound to it (RFC 9449 §6.1).
func (p *Prover) JKT() string { return p.jkt }

// Algorithm is the algorithm the Prover signs with.
func (p *Prover) Algorithm() jose.SignatureAlgorithm { return p.alg }

// Proof returns a proof for a request with method htm to htu (RFC 9449
// §4.2). htu is sent without query and fragment. When accessToken is not
// empty the proof carries its hash (ath, §4.2, for a resource server);
// nonce, when not empty, is the server's (§8, §9).
func (p *Prover) Proof(htm, htu, accessToken, nonce string) (string, error) {
	if htm == "" || htu == "" {
		return "", errors.New("dpop: htm and htu are required")
	}
	htu = stripQuery(htu)
	var id [16]byte // RFC 9449 §4.2: at least 96 bits of randomness
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	c := claims{
		JTI: base64.RawURLEncoding.EncodeToString(id[:]),
		HTM: htm,
		HTU: htu,
		IAT: p.now().Unix(),
	}
	if accessToken != "" {
		c.ATH = ATH(accessToken)
	}
	c.Nonce = nonce
	payload, err := c.marshal()
	if err != nil {
		return "", err
	}
	sig, err := p.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: signing a proof: %w", err)
	}
	return sig.CompactSerialize()
}

// ATH is the ath claim for accessToken: base64url(SHA-256(ASCII(token)))
// (RFC 9449 §4.2).
func ATH(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of k, base64url (RFC 9449 §6.1).
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	t, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}
