package integration_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// setWith returns a JWK Set holding key and n-1 other keys; kid(i) names key
// i (key 0 is the signing key, its kid stays key.kid unless kid(0) says "").
func setWith(t *testing.T, key assertionKey, n int, kid func(int) string) json.RawMessage {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.priv.Public(), KeyID: kid(0), Algorithm: "ES256", Use: "sig"}}}
	for i := 1; i < n; i++ {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: newAssertionKey(t, "").priv.Public(), KeyID: kid(i), Algorithm: "ES256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A client JWK Set holds at most 10 keys, each with a kid when there are
// several; at authentication a set breaking the rule — stored before the rule
// existed, or served at jwks_uri — refuses the client: 401 invalid_client,
// no token, even though the assertion is signed by a key in the set.
func TestClientJWKSBounds(t *testing.T) {
	e := newEnv(t)
	key := newAssertionKey(t, "k0")
	named := func(i int) string { return fmt.Sprintf("k%d", i) }
	certPEM, keyPEM, _ := e.ca.Issue(certs.Leaf{CommonName: "jwks", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	tc, _ := tls.X509KeyPair(certPEM, keyPEM)
	sets := map[string]json.RawMessage{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(sets[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tc}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	anon := assertionKey{priv: key.priv} // signs without a kid header
	for _, c := range []struct {
		name string
		jwks json.RawMessage
		key  assertionKey
		ok   bool
	}{
		{"ten-keys", setWith(t, key, 10, named), key, true},
		{"one-key-no-kid", setWith(t, key, 1, func(int) string { return "" }), anon, true},
		{"eleven-keys", setWith(t, key, 11, named), key, false},
		{"another-key-without-kid", setWith(t, key, 2, func(i int) string { return named(i)[:2*(1-i)] }), key, false},
		{"no-kids", setWith(t, key, 3, func(int) string { return "" }), anon, false},
	} {
		sets[c.name] = c.jwks
		for _, via := range []string{"jwks", "jwks_uri"} {
			t.Run(c.name+"/"+via, func(t *testing.T) {
				id := c.name + "-" + strings.ReplaceAll(via, "_", "-")
				rec := &backends.Client{ClientID: id, TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", AllowedResources: []string{audience}}
				if via == "jwks" {
					rec.JWKS = c.jwks
				} else {
					rec.JWKSURI = srv.URL + "/" + c.name
				}
				// Straight into the backend: registration has its own check.
				if err := e.store.CreateClient(t.Context(), rec); err != nil {
					t.Fatal(err)
				}
				before := len(e.logs.String())
				resp, b := e.post(assertionForm(c.key.sign(t, id, e.issuer, nil)), nil)
				if c.ok {
					if resp.StatusCode != 200 {
						t.Fatalf("refused: %d %v\n%s", resp.StatusCode, b, e.logs.String()[before:])
					}
					return
				}
				if resp.StatusCode != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
					t.Fatalf("got %d %v, want 401 invalid_client and no token", resp.StatusCode, b)
				}
				if logged := e.logs.String()[before:]; !strings.Contains(logged, "client jwks") {
					t.Fatalf("refused, but not for its key set:\n%s", logged)
				}
			})
		}
	}
}

// Registration refuses a JWK Set that authentication would refuse: more than
// 10 keys, a key without kid in a set of several, or the keys hidden under a
// case variant of "keys" that encoding/json would have matched.
func TestRegistrationRefusesOversizedJWKS(t *testing.T) {
	e := newEnv(t)
	key := newAssertionKey(t, "k0")
	named := func(i int) string { return fmt.Sprintf("k%d", i) }
	eleven := setWith(t, key, 11, named)
	for _, c := range []struct {
		name string
		jwks string
	}{
		{"eleven keys", string(eleven)},
		{"a key without kid", string(setWith(t, key, 2, func(i int) string { return named(i)[:2*(1-i)] }))},
		{"keys under KEYS", `{"KEYS":` + strings.TrimSuffix(strings.TrimPrefix(string(eleven), `{"keys":`), "}") + `,"keys":[]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"token_endpoint_auth_method":"private_key_jwt","scope":"read","jwks":` + c.jwks + `}`
			resp, b := e.reg("POST", "/register", e.regToken, body)
			desc, _ := b["error_description"].(string)
			if resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" || !strings.HasPrefix(desc, "jwks:") {
				t.Fatalf("got %d %v, want 400 invalid_client_metadata naming jwks", resp.StatusCode, b)
			}
		})
	}
}
