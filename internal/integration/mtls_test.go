package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

const spiffeID = "spiffe://example.org/ns/payments/sa/api"

func mtlsClient(id string, set func(c *backends.Client)) *backends.Client {
	c := &backends.Client{ClientID: id, TokenEndpointAuthMethod: backends.AuthTLSClient, Scope: "read"}
	set(c)
	return c
}

// openSSLThumbprint computes x5t#S256 independently of the broker's code.
func openSSLThumbprint(t *testing.T, leaf *x509.Certificate) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	f, _ := os.CreateTemp(t.TempDir(), "*.der")
	f.Write(leaf.Raw)
	f.Close()
	out, err := exec.Command("sh", "-c", "openssl dgst -sha256 -binary "+f.Name()+" | openssl base64 -A | tr '+/' '-_' | tr -d '='").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestTLSClientAuth(t *testing.T) {
	e := newEnv(t)
	e.client(mtlsClient("by-dn", func(c *backends.Client) { c.TLSClientAuthSubjectDN = `cn=Payments   API,  o=Example\, Inc.` }))
	e.client(mtlsClient("by-spiffe", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	e.client(mtlsClient("by-dns", func(c *backends.Client) { c.TLSClientAuthSANDNS = "api.payments.example.org" }))
	e.client(mtlsClient("by-ip", func(c *backends.Client) { c.TLSClientAuthSANIP = "10.1.2.3" }))
	e.client(mtlsClient("by-email", func(c *backends.Client) { c.TLSClientAuthSANEmail = "svc@Payments.example.org" }))
	e.client(mtlsClient("pinned", func(c *backends.Client) {
		c.TLSClientAuthSANURI = spiffeID
		c.TLSClientAuthCASHA256 = certs.SHA256Hex(e.clientCA.Cert)
	}))
	good, goodLeaf := e.leafCert(nil, certs.Leaf{CommonName: "payments api", Organization: []string{"Example, Inc."}, URIs: []string{spiffeID}, DNSNames: []string{"api.payments.example.org"}, IPs: []net.IP{net.ParseIP("10.1.2.3")}, Emails: []string{"svc@payments.example.org"}, Client: true})
	for _, id := range []string{"by-dn", "by-spiffe", "by-dns", "by-ip", "by-email", "pinned"} {
		t.Run("ok/"+id, func(t *testing.T) {
			for _, base := range []string{e.issuer, e.mtlsBase} {
				resp, b := e.postVia(e.withCert(&good), base, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d %v\n%s", base, resp.StatusCode, b, e.logs)
				}
				claims, _ := e.verify(b["access_token"].(string))
				if claims.Cnf == nil || claims.Cnf.X5tS256 != certs.Thumbprint(goodLeaf) {
					t.Fatalf("token not bound to the certificate: %+v", claims.Cnf)
				}
			}
		})
	}
	t.Run("thumbprint matches openssl", func(t *testing.T) {
		_, b := e.postVia(e.withCert(&good), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"by-spiffe"}}, nil)
		claims, _ := e.verify(b["access_token"].(string))
		if want := openSSLThumbprint(t, goodLeaf); claims.Cnf.X5tS256 != want {
			t.Fatalf("cnf.x5t#S256 = %s, openssl says %s", claims.Cnf.X5tS256, want)
		}
	})

	untrusted, _ := certs.NewCA("test client CA", time.Hour)
	other := func(l certs.Leaf) *tls.Certificate {
		c, _ := e.leafCert(nil, l)
		return &c
	}
	from := func(ca *certs.CA, l certs.Leaf) *tls.Certificate {
		c, _ := e.leafCert(ca, l)
		return &c
	}
	spiffe := certs.Leaf{CommonName: "x", URIs: []string{spiffeID}, Client: true}
	withTimes := func(nb, na time.Time) certs.Leaf { l := spiffe; l.NotBefore, l.NotAfter = nb, na; return l }
	caLeaf := spiffe
	caLeaf.IsCA = true
	serverOnly := spiffe
	serverOnly.Client, serverOnly.Server = false, true
	now := time.Now()
	for _, tc := range []struct {
		name, client string
		cert         *tls.Certificate
		reason       string
	}{
		{"untrusted CA", "by-spiffe", from(untrusted, spiffe), "unknown authority"},
		{"expired", "by-spiffe", other(withTimes(now.Add(-2*time.Hour), now.Add(-time.Hour))), "expired or is not yet valid"},
		{"not yet valid", "by-spiffe", other(withTimes(now.Add(time.Hour), now.Add(2*time.Hour))), "expired or is not yet valid"},
		{"CA certificate as leaf", "by-spiffe", other(caLeaf), "is a CA certificate"},
		{"no clientAuth EKU", "by-spiffe", other(serverOnly), "incompatible key usage"},
		{"wrong SPIFFE ID", "by-spiffe", other(certs.Leaf{CommonName: "x", URIs: []string{"spiffe://example.org/ns/payments/sa/other"}, Client: true}), "URI SAN does not match"},
		{"wrong subject", "by-dn", other(certs.Leaf{CommonName: "payments api2", Organization: []string{"Example, Inc."}, Client: true}), "subject DN does not match"},
		{"subject prefix is not a match", "by-dn", other(certs.Leaf{CommonName: "payments api", Organization: []string{"Example, Inc.", "Other"}, Client: true}), "subject DN does not match"},
		{"wrong DNS SAN", "by-dns", other(certs.Leaf{CommonName: "x", DNSNames: []string{"evil.payments.example.org"}, Client: true}), "DNS SAN does not match"},
		{"pinned CA mismatch (same CA name)", "pinned", from(e.clientCA2, spiffe), "pinned"},
		{"no certificate", "by-spiffe", nil, "no client authentication"},
		{"self-signed for a PKI client", "by-spiffe", selfSigned(e, spiffe), "unknown authority"},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			before := len(e.logs.String())
			resp, b := e.postVia(e.withCert(tc.cert), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.client}}, nil)
			if resp.StatusCode != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
				t.Fatalf("got %d %v, want 401 invalid_client", resp.StatusCode, b)
			}
			if logged := e.logs.String()[before:]; !strings.Contains(logged, tc.reason) {
				t.Fatalf("refused, but not because of %q:\n%s", tc.reason, logged)
			}
		})
	}
	// Without a pin the same-name CA is accepted: the pin is what stops it.
	if resp, _ := e.postVia(e.withCert(from(e.clientCA2, spiffe)), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"by-spiffe"}}, nil); resp.StatusCode != 200 {
		t.Fatalf("unpinned client refused with a cert from the second trusted CA: %d", resp.StatusCode)
	}
	t.Run("no downgrade to a secret", func(t *testing.T) {
		resp, b := e.postVia(e.withCert(&good), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"by-spiffe"}, "client_secret": {"guess"}}, nil)
		if resp.StatusCode != 401 || b["error"] != "invalid_client" {
			t.Fatalf("got %d %v", resp.StatusCode, b)
		}
	})
}

func selfSigned(e *env, l certs.Leaf) *tls.Certificate {
	certPEM, keyPEM, err := certs.SelfSigned(l)
	if err != nil {
		e.t.Fatal(err)
	}
	c, _ := e.pair(certPEM, keyPEM)
	return &c
}

func TestRevokedCertificate(t *testing.T) {
	e := newEnv(t)
	e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	cert, leaf := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}
	if resp, _ := e.postVia(e.withCert(&cert), e.issuer, cc, nil); resp.StatusCode != 200 {
		t.Fatal("valid certificate refused")
	}
	crl, err := e.clientCA.CRL([]*big.Int{leaf.SerialNumber}, 2, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.crlFile, crl, 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { resp, _ := e.postVia(e.withCert(&cert), e.issuer, cc, nil); return resp.StatusCode == 401 })
	if !strings.Contains(e.logs.String(), "certificate revoked") {
		t.Error("revocation reason not logged")
	}
}

// A CRL naming the client CA but signed by another key is ignored.
func TestForgedCRLIgnored(t *testing.T) {
	e := newEnv(t)
	e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	cert, leaf := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
	forged, _ := certs.NewCA("test client CA", time.Hour)
	crl, _ := forged.CRL([]*big.Int{leaf.SerialNumber}, 9, time.Now().Add(time.Hour))
	if err := os.WriteFile(e.crlFile, crl, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.crls.Refresh(context.Background()); err != nil { // the forged file is read now
		t.Fatal(err)
	}
	if resp, b := e.postVia(e.withCert(&cert), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}, nil); resp.StatusCode != 200 {
		t.Fatalf("forged CRL revoked a certificate: %d %v", resp.StatusCode, b)
	}
}

func TestSelfSignedTLSClientAuth(t *testing.T) {
	e := newEnv(t)
	l := certs.Leaf{CommonName: "self", Client: true}
	certPEM, keyPEM, _ := certs.SelfSigned(l)
	cert, leaf := e.pair(certPEM, keyPEM)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: leaf.PublicKey, Certificates: []*x509.Certificate{leaf}, KeyID: "self-1", Use: "sig"}}})
	e.client(&backends.Client{ClientID: "ss", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, Scope: "read", JWKS: jwks})
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"ss"}}
	resp, b := e.postVia(e.withCert(&cert), e.issuer, cc, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("registered self-signed certificate refused: %v\n%s", b, e.logs)
	}
	if claims, _ := e.verify(b["access_token"].(string)); claims.Cnf == nil || claims.Cnf.X5tS256 != certs.Thumbprint(leaf) {
		t.Fatal("self-signed token not bound")
	}
	for name, c := range map[string]*tls.Certificate{
		"unregistered":        selfSigned(e, l),
		"expired, registered": nil,
		"no certificate":      nil,
	} {
		if name == "expired, registered" {
			exp := l
			exp.NotBefore, exp.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
			pemC, pemK, _ := certs.SelfSigned(exp)
			ec, eleaf := e.pair(pemC, pemK)
			jw, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: eleaf.PublicKey, Certificates: []*x509.Certificate{eleaf}}}})
			e.client(&backends.Client{ClientID: "ss-exp", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, Scope: "read", JWKS: jw})
			resp, b := e.postVia(e.withCert(&ec), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"ss-exp"}}, nil)
			if resp.StatusCode != 401 {
				t.Fatalf("%s: %d %v", name, resp.StatusCode, b)
			}
			continue
		}
		if resp, b := e.postVia(e.withCert(c), e.issuer, cc, nil); resp.StatusCode != 401 || b["error"] != "invalid_client" {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, b)
		}
	}
}

// RFC 8705 §3.4: a secret client that registered bound tokens gets one
// bound to whatever certificate it presents, and is refused without one.
func TestBoundTokensForSecretClients(t *testing.T) {
	e := newEnv(t)
	secret := e.client(&backends.Client{ClientID: "sb", Scope: "read", TLSClientCertificateBoundAccessTokens: true})
	plain := e.client(&backends.Client{ClientID: "sp", Scope: "read"})
	cert, leaf := e.leafCert(nil, certs.Leaf{CommonName: "any", Client: true})
	self := selfSigned(e, certs.Leaf{CommonName: "self", Client: true})
	cc := url.Values{"grant_type": {"client_credentials"}}
	resp, b := e.postVia(e.withCert(&cert), e.issuer, cc, basic("sb", secret))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, b)
	}
	if c, _ := e.verify(b["access_token"].(string)); c.Cnf == nil || c.Cnf.X5tS256 != certs.Thumbprint(leaf) {
		t.Fatal("not bound")
	}
	// Any certificate proves possession; a self-signed one binds too.
	if resp, _ := e.postVia(e.withCert(self), e.issuer, cc, basic("sb", secret)); resp.StatusCode != 200 {
		t.Fatal("self-signed certificate refused for binding")
	}
	if resp, b := e.postVia(e.withCert(nil), e.issuer, cc, basic("sb", secret)); resp.StatusCode != 400 || b["error"] != "invalid_request" {
		t.Fatalf("bound-token client without a certificate: %d %v", resp.StatusCode, b)
	}
	_, b = e.postVia(e.withCert(&cert), e.issuer, cc, basic("sp", plain))
	if c, _ := e.verify(b["access_token"].(string)); c.Cnf != nil {
		t.Fatal("a client that did not ask for bound tokens got one")
	}
}

func TestMTLSAliasListener(t *testing.T) {
	e := newEnv(t)
	_, md := e.do(mustReq(t, e.issuer+broker.PathMetadata))
	aliases, _ := md["mtls_endpoint_aliases"].(map[string]any)
	if aliases["token_endpoint"] != e.mtlsBase+broker.PathToken || md["tls_client_certificate_bound_access_tokens"] != true {
		t.Fatalf("metadata: %v", md)
	}
	methods := md["token_endpoint_auth_methods_supported"].([]any)
	for _, m := range []string{"tls_client_auth", "self_signed_tls_client_auth", "private_key_jwt"} {
		found := false
		for _, x := range methods {
			found = found || x == m
		}
		if !found {
			t.Errorf("metadata lacks %s: %v", m, methods)
		}
	}
	// The alias requires a certificate at the TLS layer.
	_, err := e.withCert(nil).Get(e.mtlsBase + broker.PathMetadata)
	if err == nil {
		t.Fatal("mTLS alias answered without a client certificate")
	}
}

func TestCertificateHeaderFromUntrustedPeer(t *testing.T) {
	e := newEnv(t)
	secret := e.client(&backends.Client{ClientID: "h", Scope: "read"})
	_, leaf := e.leafCert(nil, certs.Leaf{CommonName: "x", URIs: []string{spiffeID}, Client: true})
	for _, h := range []string{"Client-Cert", "X-Forwarded-Client-Cert", "X-SSL-Client-Cert"} {
		hdr := basic("h", secret)
		hdr.Set(h, ":"+b64(leaf.Raw)+":")
		resp, b := e.post(url.Values{"grant_type": {"client_credentials"}}, hdr)
		if resp.StatusCode != 400 || b["error"] != "invalid_request" {
			t.Fatalf("%s from an untrusted peer: %d %v", h, resp.StatusCode, b)
		}
	}
	if !strings.Contains(e.logs.String(), "untrusted peer") {
		t.Error("spoof attempt not logged")
	}
}
