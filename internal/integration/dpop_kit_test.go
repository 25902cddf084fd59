package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// withDPoPNonces turns server nonces on at the token endpoint (RFC 9449 §8).
func withDPoPNonces(n dpop.NonceSource) envOpt {
	return func(c *broker.Config, _ *cache.Options) { c.DPoP.Nonces = n }
}

// dpopAPI serves the resource middleware (nonces on too, §9) over TLS with
// client certificates requested; it answers the token's bindings.
func (e *env) dpopAPI(nonces dpop.NonceSource) string {
	e.t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	// DPoP needs the URL clients call (RFC 9449 §4.3 item 9).
	v, err := resource.New(context.Background(), resource.Config{Issuer: e.issuer, Audience: audience, DPoP: resource.DPoPConfig{BaseURL: "https://" + ln.Addr().String(), Nonces: nonces},
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	api := httptest.NewUnstartedServer(v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		json.NewEncoder(w).Encode(map[string]string{"client_id": c.ClientID, "jkt": c.DPoPThumbprint(), "x5t": c.CertThumbprint()})
	})))
	api.Listener.Close()
	api.Listener = ln
	api.TLS = &tls.Config{Certificates: []tls.Certificate{e.serverCert}, ClientAuth: tls.RequestClientCert}
	api.StartTLS()
	e.t.Cleanup(api.Close)
	return api.URL
}

func newTestNonces(t *testing.T) *dpop.Nonces {
	n, err := dpop.NewNonces([]byte(strings.Repeat("k", 32)+t.Name()), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The client kit against the whole broker with every credential it has:
// private_key_jwt (a fresh assertion for the nonce retry — the first one's
// jti must not be what the retry sends), a client secret, and mTLS with a
// proof (RFC 9449 §5: the proof's key binding replaces the certificate's).
// Nonces are on at the broker and at the API; each call reaches the API
// with a token bound to the kit's key, and stays working across refreshes.
func TestDPoPClientKitWholeBroker(t *testing.T) {
	e := newEnv(t, withDPoPNonces(newTestNonces(t)))
	api := e.dpopAPI(newTestNonces(t))
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)

	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks(), DPoPBoundAccessTokens: true})
	secret := e.client(&backends.Client{ClientID: "basic", Scope: "read"})
	e.client(&backends.Client{ClientID: "m", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANDNS: "m.example.test", Scope: "read"})
	cert, _ := e.leafCert(nil, certs.Leaf{CommonName: "m", DNSNames: []string{"m.example.test"}, Client: true})

	for _, tc := range []struct {
		name string
		cfg  tokensource.Config
	}{
		{"private_key_jwt", tokensource.Config{TokenURL: e.issuer + broker.PathToken, ClientID: "jwt", PrivateKey: key.priv, KeyID: "k1", Audience: e.issuer}},
		{"client_secret_basic", tokensource.Config{TokenURL: e.issuer + broker.PathToken, ClientID: "basic", Secret: secret}},
		{"tls_client_auth", tokensource.Config{TokenURL: e.mtlsBase + broker.PathToken, ClientID: "m", Certificate: &cert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.RootCAs, cfg.Scopes, cfg.DPoP = pool, []string{"read"}, &tokensource.DPoP{}
			cfg.RefreshAhead = 10 * time.Minute // a new token (a new token request) for every call
			src, err := tokensource.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				resp, err := src.Client().Get(api + "/orders")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), `"jkt":"`+src.JKT()+`"`) || !strings.Contains(string(b), `"x5t":""`) {
					t.Fatalf("call %d: %d %s\n%s", i, resp.StatusCode, b, e.logs)
				}
			}
			tok, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			e.handedOut = append(e.handedOut, tok.AccessToken)
			if tok.TokenType != "DPoP" {
				t.Fatalf("token_type %q", tok.TokenType)
			}
		})
	}
}
