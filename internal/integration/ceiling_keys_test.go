package integration_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/certs"
)

// selfSignedJWKS returns a self-signed client certificate and the JWK Set
// that registers it (RFC 8705 §2.2).
func selfSignedJWKS(e *env, cn string) (*tls.Certificate, json.RawMessage) {
	e.t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned(certs.Leaf{CommonName: cn, Client: true})
	if err != nil {
		e.t.Fatal(err)
	}
	cert, leaf := e.pair(certPEM, keyPEM)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: leaf.PublicKey, Certificates: []*x509.Certificate{leaf}, KeyID: cn, Use: "sig"}}})
	return &cert, jwks
}

// A self_signed_tls_client_auth client's jwks is its certificate match (RFC
// 8705 §2.2): its own update keeps it — omitted, or sent back in another
// member order — and cannot replace it; the operator can.
func TestSelfUpdateKeepsTheSelfSignedCertificate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cert, jwks := selfSignedJWKS(e, "ss-1")
	r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "ss", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, Scope: "read write", JWKS: jwks, AllowedResources: []string{audience}}, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	rat := r.RegistrationToken
	e.handedOut = append(e.handedOut, rat)
	var reordered map[string]any // encoding/json sorts the members jose wrote in struct order
	if err := json.Unmarshal(jwks, &reordered); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(reordered); bytes.Equal(b, jwks) {
		t.Fatal("the sent-back set is byte-identical; the test proves nothing")
	}
	other, otherJWKS := selfSignedJWKS(e, "ss-2")
	var both jose.JSONWebKeySet
	for _, set := range []json.RawMessage{jwks, otherJWKS} {
		var ks jose.JSONWebKeySet
		if err := json.Unmarshal(set, &ks); err != nil {
			t.Fatal(err)
		}
		both.Keys = append(both.Keys, ks.Keys...)
	}
	for _, st := range []struct {
		name   string
		md     map[string]any
		status int
		field  string
	}{
		{"jwks omitted", map[string]any{"scope": "read"}, 200, ""},
		{"jwks sent back reordered", map[string]any{"scope": "read", "jwks": reordered}, 200, ""},
		{"another certificate", map[string]any{"jwks": otherJWKS}, 400, "jwks"},
		{"another certificate added", map[string]any{"jwks": both}, 400, "jwks"},
		{"a jwks_uri instead", map[string]any{"jwks_uri": "https://keys.example.test/jwks"}, 400, "jwks_uri"},
	} {
		status, code, b := e.putMeta("ss", rat, st.md)
		if status != st.status || (st.field != "" && !strings.HasPrefix(code, "invalid_client_metadata "+st.field+":")) {
			t.Fatalf("%s: %d %q %v, want %d naming %q", st.name, status, code, b, st.status, st.field)
		}
	}
	c, _ := e.srv.Registry().Get(ctx, "ss")
	if !bytes.Equal(c.JWKS, jwks) || c.JWKSURI != "" || c.Scope != "read" {
		t.Fatalf("stored record %s %q %q", c.JWKS, c.JWKSURI, c.Scope)
	}
	token := func(cert *tls.Certificate) int {
		resp, _ := e.postVia(e.withCert(cert), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"ss"}}, nil)
		return resp.StatusCode
	}
	if token(cert) != 200 || token(other) != 401 {
		t.Fatalf("after the updates: registered certificate %d, other %d", token(cert), token(other))
	}

	// The operator rebinds (clients update --jwks); the new certificate is
	// then the one the client's updates keep.
	c.JWKS = otherJWKS
	if _, err := e.srv.Registry().Update(ctx, "ss", c); err != nil {
		t.Fatal(err)
	}
	if status, code, b := e.putMeta("ss", rat, map[string]any{"jwks": jwks}); status != 400 || !strings.HasPrefix(code, "invalid_client_metadata jwks:") {
		t.Fatalf("PUT of the previous certificate after the operator's rebind: %d %q %v", status, code, b)
	}
	if status, code, b := e.putMeta("ss", rat, map[string]any{"jwks": otherJWKS, "scope": "write"}); status != 200 {
		t.Fatalf("PUT sending back the operator's new certificate: %d %q %v", status, code, b)
	}
	if token(other) != 200 || token(cert) != 401 {
		t.Fatalf("after the operator's rebind: new certificate %d, previous %d", token(other), token(cert))
	}
}

// A ceiling stored before certificates were pinned has none: the record's
// certificate is taken as the grant (fail closed) and pinned from then on.
func TestSelfUpdatePinsTheCertificateOfAnOlderCeiling(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, jwks := selfSignedJWKS(e, "old-1")
	r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "old", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, Scope: "read", JWKS: jwks}, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, r.RegistrationToken)
	c, _ := e.store.GetClient(ctx, "old")
	c.Ceiling.JWKSSHA256 = ""
	if err := e.store.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, otherJWKS := selfSignedJWKS(e, "old-2")
	if status, code, b := e.putMeta("old", r.RegistrationToken, map[string]any{"jwks": otherJWKS}); status != 400 || !strings.HasPrefix(code, "invalid_client_metadata jwks:") {
		t.Fatalf("PUT of another certificate under an unpinned ceiling: %d %q %v", status, code, b)
	}
	if status, code, b := e.putMeta("old", r.RegistrationToken, map[string]any{}); status != 200 {
		t.Fatalf("PUT: %d %q %v", status, code, b)
	}
	if c, _ := e.store.GetClient(ctx, "old"); !bytes.Equal(c.JWKS, jwks) || c.Ceiling.JWKSSHA256 != backends.JWKSDigest(jwks) {
		t.Fatalf("stored record %s, ceiling %+v", c.JWKS, c.Ceiling)
	}
}

// private_key_jwt keys are the client's to rotate through RFC 7592 (that is
// what self-management is for); an operator who wants them fixed does not
// give the client a registration access token.
func TestSelfUpdateRotatesPrivateKeyJWTKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	keySet := func(kid string) json.RawMessage {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Use: "sig", Algorithm: "ES256"}}})
		return b
	}
	r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "pkj", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: keySet("k1")}, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, r.RegistrationToken)
	if r.Client.Ceiling.PinsKeys() {
		t.Fatalf("a private_key_jwt ceiling pins keys: %+v", r.Client.Ceiling)
	}
	next := keySet("k2")
	if status, code, b := e.putMeta("pkj", r.RegistrationToken, map[string]any{"jwks": next}); status != 200 {
		t.Fatalf("key rotation: %d %q %v", status, code, b)
	}
	if c, _ := e.srv.Registry().Get(ctx, "pkj"); !bytes.Equal(c.JWKS, next) {
		t.Fatalf("stored jwks %s, want the rotated set", c.JWKS)
	}
}
