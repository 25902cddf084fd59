package integration_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/federation"
	"github.com/tokenbroker/tokenbroker/authn/federation/oidctest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
)

// withFederation adds the federated_jwt method for issuer is (loopback:
// allow_private) to the env's methods.
func withFederation(t *testing.T, is *oidctest.Issuer, audience *string) envOpt {
	return func(cfg *broker.Config, _ *cache.Options) {
		m, err := federation.New(federation.Config{Issuers: []federation.IssuerConfig{{
			Issuer: is.URL, Audience: cfg.Issuer, AllowPrivate: true, RootCAs: is.Roots,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		*audience = cfg.Issuer
		cfg.Methods = append(cfg.Methods, m)
	}
}

// TestFederatedBesidePrivateKeyJWT: with a federated issuer configured,
// private_key_jwt stays exactly as strict for the broker's own clients, the
// method is picked by the assertion's iss, and neither method stands in for
// the other (exactly one applies, and it must be the registered one).
func TestFederatedBesidePrivateKeyJWT(t *testing.T) {
	t.Parallel()
	kube, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kube.Close() })
	var aud string
	e := newEnv(t, withFederation(t, kube, &aud))
	e.client(&backends.Client{ClientID: "k8s-app", Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: kube.URL, Subject: "system:serviceaccount:prod:app"}})
	pk := newAssertionKey(t, "pk-1")
	e.client(&backends.Client{ClientID: "pk", Scope: "read", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, JWKS: pk.jwks()})
	kubeTok, err := kube.Kubernetes("prod", "app", "app-1", oidctest.Token{Audience: []string{aud}})
	if err != nil {
		t.Fatal(err)
	}
	form := func(assertion, clientID string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion}}
		if clientID != "" {
			f.Set("client_id", clientID)
		}
		return f
	}
	for _, tc := range []struct {
		name      string
		form      url.Values
		wantCode  int
		wantError string
	}{
		{"federated client", form(kubeTok, "k8s-app"), http.StatusOK, ""},
		{"private_key_jwt client unaffected", form(pk.sign(t, "pk", e.issuer, nil), ""), http.StatusOK, ""},
		{"federated token for a private_key_jwt client", form(kubeTok, "pk"), http.StatusUnauthorized, "invalid_client"},
		{"own key, iss spoofing the federated issuer", form(pk.sign(t, "pk", e.issuer, map[string]any{"iss": kube.URL}), "pk"), http.StatusUnauthorized, "invalid_client"},
		{"own key, iss federated, sub the federated client", form(pk.sign(t, "k8s-app", e.issuer, map[string]any{"iss": kube.URL, "sub": "system:serviceaccount:prod:app"}), "k8s-app"), http.StatusUnauthorized, "invalid_client"},
		{"a secret beside the federated token", func() url.Values { f := form(kubeTok, "k8s-app"); f.Set("client_secret", "x"); return f }(), http.StatusBadRequest, "invalid_request"},
	} {
		resp, m := e.post(tc.form, nil)
		if resp.StatusCode != tc.wantCode || (tc.wantError != "" && m["error"] != tc.wantError) {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, m)
		}
		if tc.wantCode != http.StatusOK && m["access_token"] != nil {
			t.Errorf("%s: a token came with the refusal", tc.name)
		}
	}
	// Metadata advertises the method; registration can never set a federated subject.
	if _, md := e.do(mustReq(t, e.issuer+broker.PathMetadata)); !slices.Contains(anyStrings(md["token_endpoint_auth_methods_supported"]), backends.AuthFederatedJWT) {
		t.Errorf("metadata does not advertise federated_jwt: %v", md["token_endpoint_auth_methods_supported"])
	}
	for _, md := range []map[string]any{
		{"client_name": "x", "token_endpoint_auth_method": "federated_jwt", "federated_subject": map[string]any{"iss": kube.URL, "sub": "system:serviceaccount:prod:admin"}},
		{"client_name": "x", "token_endpoint_auth_method": "federated_jwt"},
	} {
		if resp, b := e.reg("POST", broker.PathRegister, e.regToken, md); resp.StatusCode != http.StatusBadRequest || b["error"] != "invalid_client_metadata" {
			t.Errorf("registration %v: %d %v", md, resp.StatusCode, b)
		}
	}
	// RFC 7592 self-management can neither drop nor change the operator's
	// federated subject: the update keeps the stored one.
	if _, err := e.srv.Registry().SelfUpdate(context.Background(), "k8s-app", &backends.Client{Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: kube.URL, Subject: "system:serviceaccount:prod:admin"}}); err != nil {
		t.Fatal(err)
	}
	adminTok, _ := kube.Kubernetes("prod", "admin", "a", oidctest.Token{Audience: []string{aud}})
	if resp, m := e.post(form(adminTok, "k8s-app"), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("self-management widened the federated subject: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.post(form(kubeTok, "k8s-app"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after self-management: %d %v", resp.StatusCode, m)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
