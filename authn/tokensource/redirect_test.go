package tokensource_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/certs"
)

// recorder is a real TLS server on loopback that remembers every request's
// Authorization header and body.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	rec.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}
	rec.StartTLS()
	t.Cleanup(rec.Close)
	return rec
}

// testCA issues every server a certificate for both loopback names.
var testCA = sync.OnceValues(func() (*certs.CA, error) { return certs.NewCA("tokensource test CA", time.Hour) })

func serverCert(t *testing.T) tls.Certificate {
	ca, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(certs.Leaf{CommonName: "loopback", Server: true, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// pool trusts the servers' CA.
func pool(t *testing.T) *x509.CertPool {
	ca, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func tokenJSON(w http.ResponseWriter, tok string) {
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 300})
}

// A token endpoint that redirects — here to another port of the same host,
// where Go keeps the Authorization header — gets no credentials sent on:
// not the Basic header, not a client_secret in the body, not an unspent assertion.
func TestTokenRequestNotRedirected(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		cfg    tokensource.Config
		secret string // what must never reach the second server
	}{
		{"client_secret_basic", tokensource.Config{ClientID: "c", Secret: "s3cret-basic"}, "Basic "},
		{"client_secret_post", tokensource.Config{ClientID: "c", Secret: "s3cret-post", SecretInBody: true}, "s3cret-post"},
		{"private_key_jwt", tokensource.Config{ClientID: "c", PrivateKey: key, Audience: "https://as.example"}, "client_assertion="},
	} {
		for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
			t.Run(tc.name+"/"+http.StatusText(status), func(t *testing.T) {
				evil := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { tokenJSON(w, "evil-token") })
				broker := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, evil.URL+"/token", status)
				})
				cfg := tc.cfg
				cfg.TokenURL, cfg.RootCAs = broker.URL+"/token", pool(t) // a redirect is not retried either
				src, err := tokensource.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := src.Token()
				if !errors.Is(err, tokensource.ErrRedirect) || tok != nil {
					t.Fatalf("redirected token request: token %v, err %v", tok, err)
				}
				if got := broker.requests(); len(got) != 1 || !strings.Contains(got[0], tc.secret) {
					t.Fatalf("the token endpoint did not get the credentials: %q", got)
				}
				if got := evil.requests(); len(got) != 0 {
					t.Fatalf("credentials followed the redirect: %q", got)
				}
			})
		}
	}
}

// Resource calls carry the token to the origin the caller addressed and to
// redirects within it, never to a redirect to another origin (another port,
// another host name, or plain http on the same host).
func TestTokenNotSentAcrossOrigins(t *testing.T) {
	t.Parallel()
	broker := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { tokenJSON(w, "the-token") })
	other := newRecorder(t, nil)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			t.Errorf("plain-http redirect target got %q", a)
		}
	}))
	defer plain.Close()
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/landing", http.StatusFound)
		case "/port":
			http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
		case "/name":
			// Same port, another host name for the same server: another origin.
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/landing", http.StatusFound)
		case "/plain":
			http.Redirect(w, r, plain.URL+"/landing", http.StatusFound)
		}
	})
	src, err := tokensource.New(tokensource.Config{TokenURL: broker.URL + "/token", ClientID: "c", Secret: "s3cret", RootCAs: pool(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Both the kit's client and a caller's own client around its RoundTripper.
	clients := map[string]*http.Client{"Client": src.Client(), "RoundTripper": {Transport: src.RoundTripper(nil)}}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/same", "/port", "/name", "/plain"} {
				resp, err := c.Post(api.URL+path, "text/plain", strings.NewReader("body"))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				resp.Body.Close()
			}
			for _, r := range other.requests() {
				if strings.Contains(r, "the-token") || strings.Contains(r, "Bearer") {
					t.Fatalf("token sent across origins: %q", r)
				}
			}
			var landed bool
			for _, r := range api.requests() {
				if !strings.Contains(r, "Bearer the-token") {
					t.Fatalf("same-origin request without the token: %q", r)
				}
				landed = landed || strings.HasPrefix(r, "/landing ")
			}
			if !landed {
				t.Fatal("same-origin redirect not followed")
			}
		})
	}
	if len(other.requests()) == 0 {
		t.Fatal("cross-origin redirects not followed at all: nothing tested")
	}
}
