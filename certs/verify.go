package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// VerifyClientChain verifies a presented client chain (leaf first) against
// roots for RFC 8705 §2.1 tls_client_auth: a valid path to a trust anchor at
// now, the clientAuth extended key usage, and a leaf that is not a CA.
// It returns the verified chains (leaf … anchor).
func VerifyClientChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) ([][]*x509.Certificate, error) {
	return VerifyClientChainWith(chain, roots, nil, now)
}

// VerifyClientChainWith is VerifyClientChain with operator-provided
// intermediates (may be nil): certificates that can complete a path from the
// presented chain to one of roots but never end one (RFC 5280 §6.1: the
// trust anchor is the operator's choice; an intermediate CA is not one).
func VerifyClientChainWith(chain []*x509.Certificate, roots, intermediates *x509.CertPool, now time.Time) ([][]*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("no client certificate")
	}
	if roots == nil {
		return nil, errors.New("no client CA configured")
	}
	if len(chain) > 8 {
		return nil, errors.New("client chain longer than 8 certificates")
	}
	leaf := chain[0]
	if leaf.BasicConstraintsValid && leaf.IsCA {
		return nil, errors.New("client certificate is a CA certificate")
	}
	inter := x509.NewCertPool()
	if intermediates != nil {
		inter = intermediates.Clone()
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("client chain: %w", err)
	}
	return chains, nil
}

// CheckValidity checks only the validity period (RFC 8705 §2.2: a
// self-signed certificate has no chain to check, but its dates still count).
func CheckValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("certificate not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("certificate expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// SHA256Hex returns the lowercase hex SHA-256 of the certificate's DER, the
// form used to pin an issuing CA (tls_client_auth_ca_sha256).
func SHA256Hex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// NormalizeHexFingerprint lower-cases a hex fingerprint and drops ':' separators (openssl's form).
func NormalizeHexFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, ":", ""))
}
