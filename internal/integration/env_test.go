package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

const audience = "https://api.example.test"

// replicaDir and replicaState, when set, make newEnv a replica sharing a
// backend directory and a shared-state store with another env.
var (
	replicaDir    string
	replicaState  state.Store
	replicaIssuer string
	// jtiShare, when set, is the private_key_jwt per-client jti bound.
	jtiShare int
)

// wrapStore, when set, wraps the env's file store as the broker sees it (a
// test interleaving an operator's write with a request).
var wrapStore func(backends.Store) backends.Store

// env is a broker served over real TLS on loopback, with a file backend.
type env struct {
	t          *testing.T
	crls       *certs.CRLSet // reloads crlFile every 20 ms; Refresh reloads it now
	srv        *broker.Server
	store      *file.Store
	issuer     string
	http       *http.Client
	ca         *certs.CA
	clientCA   *certs.CA
	clientCA2  *certs.CA
	mtlsBase   string
	crlFile    string
	replay     *state.Memory
	serverCert tls.Certificate
	regToken   string
	logs       *syncBuffer
	// handedOut collects every secret and token the test saw; none may appear in a log.
	handedOut []string
}

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer = testkit.Buffer

type envOpt func(*broker.Config, *cache.Options)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if replicaDir != "" {
		dir = replicaDir // a second replica on the same backend
	}
	store, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	ca, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(certs.Leaf{CommonName: "broker", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := certs.NewCA("test client CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A second trusted CA with the very same name: what a CA pin protects against.
	clientCA2, err := certs.NewCA("test client CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, ca: ca, clientCA: clientCA, clientCA2: clientCA2, issuer: "https://" + ln.Addr().String(), mtlsBase: "https://" + mln.Addr().String(), logs: &syncBuffer{}, regToken: registry.NewSecret(), replay: state.NewMemory(0)}
	iss := e.issuer
	if replicaIssuer != "" {
		iss = replicaIssuer // replicas behind one name share the issuer
	}
	var shared state.Store = e.replay
	if replicaState != nil {
		shared = replicaState
	}
	e.crlFile = filepath.Join(dir, "client-ca.crl")
	crlPEM, err := clientCA.CRL(nil, 1, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.crlFile, crlPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	crls, err := certs.NewCRLSet(ctx, []string{e.crlFile}, nil, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crls.Close() })
	e.crls = crls
	serverPool := x509.NewCertPool()
	serverPool.AddCert(ca.Cert)
	keys := authn.NewKeySource(authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: true, RootCAs: serverPool}))
	pkjwt, err := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: iss, CompatAudiences: []string{iss + broker.PathToken, e.mtlsBase + broker.PathToken}, Compat: true, Replay: shared, MaxJTIsPerClient: jtiShare, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(clientCA.Cert)
	roots.AddCert(clientCA2.Cert)
	cfg := broker.Config{
		Issuer:                   iss,
		MTLSBaseURL:              e.mtlsBase,
		DefaultAudience:          audience,
		ScopesSupported:          []string{"read", "write", "admin"},
		InitialAccessTokenHashes: []string{backends.HashSecret(e.regToken)},
		RegistrationResources:    []string{audience},
		Logger:                   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		State:                    shared,
		Methods: []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost(), pkjwt,
			authn.TLSClientAuth(func() *x509.CertPool { return roots }, crls), authn.SelfSignedTLSClientAuth(keys)},
	}
	copt := cache.Options{}
	for _, o := range opts {
		o(&cfg, &copt)
	}
	copt.Logger = cfg.Logger
	var bstore backends.Store = store
	if wrapStore != nil {
		bstore = wrapStore(store)
	}
	srv, err := broker.New(ctx, cfg, bstore, broker.WithCache(copt))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() {
		_ = srv.Serve(sctx, ln, broker.TLSConfig(broker.StaticCertificate(cert), false))
		done <- struct{}{}
	}()
	go func() {
		_ = srv.Serve(sctx, mln, broker.TLSConfig(broker.StaticCertificate(cert), true))
		done <- struct{}{}
	}()
	e.serverCert = cert
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	e.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		srv.Close()
		e.assertNothingSecretLogged()
	})
	return e
}

// assertNothingSecretLogged is the DESIGN.md invariant: no secret, assertion
// or token in any log line.
func (e *env) assertNothingSecretLogged() {
	logs := e.logs.String()
	for _, s := range e.handedOut {
		if s != "" && strings.Contains(logs, s) {
			e.t.Errorf("a secret or token appears in the log: %.12s…", s)
		}
	}
	e.handedOut = append(e.handedOut, e.regToken)
}

// client registers a client through the Registry and returns its secret.
func (e *env) client(c *backends.Client) string {
	e.t.Helper()
	if c.AllowedResources == nil {
		c.AllowedResources = []string{audience, "https://billing.example.test"}
	}
	r, err := e.srv.Registry().Create(context.Background(), c)
	if err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	e.handedOut = append(e.handedOut, r.Secret, r.RegistrationToken)
	return r.Secret
}

// post sends a raw form to the token endpoint.
func (e *env) post(form url.Values, header http.Header) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+broker.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	// Assertions are credentials too: none may reach a log.
	e.handedOut = append(e.handedOut, form["client_assertion"]...)
	return e.do(req)
}

func (e *env) do(req *http.Request) (*http.Response, map[string]any) {
	e.t.Helper()
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			e.t.Fatalf("%s %s: non-JSON body %q", req.Method, req.URL.Path, b)
		}
	}
	if tok, ok := m["access_token"].(string); ok {
		e.handedOut = append(e.handedOut, tok)
	}
	return resp, m
}

// jwks fetches the published key set.
func (e *env) jwks() jose.JSONWebKeySet {
	e.t.Helper()
	resp, err := e.http.Get(e.issuer + broker.PathJWKS)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&ks); err != nil {
		e.t.Fatal(err)
	}
	return ks
}

// verify checks a token's signature against the published JWKS and returns its claims and header.
func (e *env) verify(tok string) (accesstoken.Claims, jose.Header) {
	e.t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256})
	if err != nil {
		e.t.Fatalf("parse token: %v", err)
	}
	h := parsed.Headers[0]
	ks := e.jwks()
	keys := ks.Key(h.KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("kid %q not published in the JWKS", h.KeyID)
	}
	var claims accesstoken.Claims
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		e.t.Fatalf("signature does not verify against the JWKS: %v", err)
	}
	return claims, h
}

func basic(id, secret string) http.Header {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return http.Header{"Authorization": req.Header["Authorization"]}
}

func mustReq(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// leafCert issues a client certificate from ca (the env's client CA when nil).
func (e *env) leafCert(ca *certs.CA, l certs.Leaf) (tls.Certificate, *x509.Certificate) {
	e.t.Helper()
	if ca == nil {
		ca = e.clientCA
	}
	certPEM, keyPEM, err := ca.Issue(l)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.pair(certPEM, keyPEM)
}

func (e *env) pair(certPEM, keyPEM []byte) (tls.Certificate, *x509.Certificate) {
	e.t.Helper()
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		e.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return tc, leaf
}

// withCert returns an HTTP client presenting cert (no certificate when nil).
func (e *env) withCert(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// postVia sends a token request with client c to base (issuer or mTLS alias).
func (e *env) postVia(c *http.Client, base string, form url.Values, header http.Header) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+broker.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	saved := e.http
	e.http = c
	defer func() { e.http = saved }()
	return e.do(req)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
