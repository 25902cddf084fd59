package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

func writeCRL(t *testing.T, path string, ca *certs.CA, number int64, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An old CRL put back (or replayed to a crl_urls fetch) after the one that
// revoked a client certificate does not un-revoke it: the token endpoint
// keeps refusing over mTLS. A stale CRL refuses its issuer's certificates.
func TestCRLReplayAndStaleEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	cert, leaf := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}
	try := func() (int, map[string]any) {
		resp, b := e.postVia(e.withCert(&cert), e.issuer, cc, nil)
		return resp.StatusCode, b
	}
	if code, b := try(); code != 200 {
		t.Fatalf("valid certificate refused: %d %v", code, b)
	}
	now := time.Now()
	writeCRL(t, e.crlFile, e.clientCA, 5, now.Add(-time.Minute), now.Add(time.Hour), leaf.SerialNumber)
	waitUntil(t, func() bool { code, _ := try(); return code == 401 })

	// The replay: the CRL from before the revocation, validly signed, lower number.
	writeCRL(t, e.crlFile, e.clientCA, 4, now.Add(-time.Hour), now.Add(time.Hour))
	if err := e.crls.Refresh(context.Background()); err != nil { // the replayed file is read now
		t.Fatal(err)
	}
	for range 5 {
		if code, b := try(); code != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
			t.Fatalf("replayed old CRL un-revoked the certificate: %d %v", code, b)
		}
	}

	// A newer CRL lifts the revocation (a certificate hold released) …
	writeCRL(t, e.crlFile, e.clientCA, 6, now, now.Add(time.Hour))
	waitUntil(t, func() bool { code, _ := try(); return code == 200 })
	// … and once the issuer's CRL is long past its nextUpdate, its certificates are refused.
	writeCRL(t, e.crlFile, e.clientCA, 7, now.Add(-3*time.Hour), now.Add(-certs.DefaultCRLGrace-time.Minute))
	waitUntil(t, func() bool { code, _ := try(); return code == 401 })
	if code, b := try(); code != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
		t.Fatalf("stale CRL: %d %v", code, b)
	}
	if !strings.Contains(e.logs.String(), "CRL stale") {
		t.Fatal("stale CRL not logged as the cause")
	}
}
