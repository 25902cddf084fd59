package integration_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/certs"
)

// REVIEW: an operator-created, self-managing client with the broker's default
// token lifetime (access_token_lifetime 0: ceiling 0) can PUT any lifetime up
// to the global maximum. The ceiling treats 0 as "no bound" although the
// operator granted the default (5 minutes here), so RFC 7592 management
// widens the token lifetime the operator set — 15-minute tokens instead of 5.
func TestReviewSelfUpdateCannotWidenDefaultLifetime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "svc-default-life", Scope: "read", AllowedResources: []string{audience}}, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, r.Secret, r.RegistrationToken)
	life := func() float64 {
		resp, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("svc-default-life", r.Secret))
		if resp.StatusCode != 200 {
			t.Fatalf("token: %d %v", resp.StatusCode, b)
		}
		return b["expires_in"].(float64)
	}
	before := life()
	status, code, body := e.putMeta("svc-default-life", r.RegistrationToken, map[string]any{"access_token_lifetime": 900})
	after := life()
	if status == 200 || after > before {
		t.Fatalf("self-update widened the operator's lifetime: PUT %d %q %v; expires_in %v -> %v", status, code, body["access_token_lifetime"], before, after)
	}
}

// REVIEW: the ceiling fixes a tls_client_auth client's certificate match, so
// holding the registration access token is not enough to rebind the client
// to another certificate. A self_signed_tls_client_auth client's certificate
// match is its jwks (RFC 8705 §2.2), and the ceiling does not hold it: the
// RAT holder replaces the operator-registered certificate with its own and
// gets tokens (bound to its own certificate) as that client.
func TestReviewSelfUpdateCannotRebindSelfSignedCertificate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := certs.Leaf{CommonName: "self", Client: true}
	certPEM, keyPEM, _ := certs.SelfSigned(l)
	_, leaf := e.pair(certPEM, keyPEM)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: leaf.PublicKey, Certificates: []*x509.Certificate{leaf}, KeyID: "op-1", Use: "sig"}}})
	r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "ss", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, Scope: "read", JWKS: jwks, AllowedResources: []string{audience}}, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, r.RegistrationToken)

	// The attacker holds only the registration access token.
	aPEM, aKey, _ := certs.SelfSigned(certs.Leaf{CommonName: "attacker", Client: true})
	acert, aleaf := e.pair(aPEM, aKey)
	ajwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: aleaf.PublicKey, Certificates: []*x509.Certificate{aleaf}, KeyID: "evil", Use: "sig"}}}
	status, code, _ := e.putMeta("ss", r.RegistrationToken, map[string]any{"jwks": ajwks})
	resp, b := e.postVia(e.withCert(&acert), e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"ss"}}, nil)
	if status == 200 || resp.StatusCode == 200 {
		t.Fatalf("RFC 7592 update rebound the operator's self-signed certificate: PUT %d %q; token with the attacker's certificate: %d %v", status, code, resp.StatusCode, b["token_type"])
	}
}
