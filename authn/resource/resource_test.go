package resource_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/resource/echoresource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/policy"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

const (
	apiAudience = "https://api.example.test"
	spiffeID    = "spiffe://example.org/ns/payments/sa/api"
)

// world is a broker, a protected API and the PKI both share, on loopback.
type world struct {
	t        testing.TB
	issuer   string
	api      string       // the protected API's URL, known before it starts (DPoPConfig.BaseURL)
	apiLn    net.Listener // where startAPI serves it
	ca       *certs.CA    // server certificates
	clientCA *certs.CA
	pool     *x509.CertPool
	store    *file.Store
	srv      *broker.Server
	rsSecret string
	// dpopSecret authenticates client "d" (client_secret_basic), which must use DPoP (RFC 9449 §5.2).
	dpopSecret string
	restart    func()
}

func newWorld(t testing.TB, opts ...func(*broker.Config)) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t}
	var err error
	w.ca, _ = certs.NewCA("server CA", time.Hour)
	w.clientCA, _ = certs.NewCA("client CA", time.Hour)
	w.pool = x509.NewCertPool()
	w.pool.AddCert(w.ca.Cert)
	if w.store, err = file.New(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	signing.NewLocal(w.store, signing.Options{Alg: "ES256"}).Ensure(ctx)
	serverCert := w.serverCert()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	w.issuer = "https://" + addr
	if w.apiLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	w.api = "https://" + w.apiLn.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(w.clientCA.Cert)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	var cancel context.CancelFunc
	var done chan struct{}
	start := func(ln net.Listener) {
		cfg := broker.Config{Issuer: w.issuer, DefaultAudience: apiAudience, KeyRefresh: 20 * time.Millisecond, Logger: quiet,
			Methods: []authn.Method{authn.ClientSecretBasic(), authn.TLSClientAuth(func() *x509.CertPool { return roots }, nil)}}
		for _, o := range opts {
			o(&cfg)
		}
		srv, err := broker.New(ctx, cfg, w.store)
		if err != nil {
			t.Fatal(err)
		}
		sctx, c := context.WithCancel(ctx)
		d := make(chan struct{})
		go func() {
			srv.Serve(sctx, ln, broker.TLSConfig(broker.StaticCertificate(serverCert), false))
			srv.Close()
			close(d)
		}()
		mu.Lock()
		w.srv, cancel, done = srv, c, d
		mu.Unlock()
	}
	start(ln)
	w.restart = func() {
		mu.Lock()
		c, d := cancel, done
		mu.Unlock()
		c()
		<-d
		var ln net.Listener
		var lerr error
		if testkit.Poll(testkit.Timeout, func() bool { ln, lerr = net.Listen("tcp", addr); return lerr == nil }) != nil {
			t.Fatal(lerr) // the old listener's port never came free
		}
		start(ln)
	}
	t.Cleanup(func() { mu.Lock(); c, d := cancel, done; mu.Unlock(); c(); <-d })
	reg := w.srv.Registry()
	mk := func(c *backends.Client) string {
		r, err := reg.Create(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return r.Secret
	}
	mk(&backends.Client{ClientID: "m", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANURI: spiffeID, Scope: "read write", AllowedResources: []string{apiAudience, "https://other.example.test"}})
	w.rsSecret = mk(&backends.Client{ClientID: "rs", Scope: "read"})
	w.dpopSecret = mk(&backends.Client{ClientID: "d", Scope: "read", AllowedResources: []string{apiAudience}, DPoPBoundAccessTokens: true})
	return w
}

func (w *world) serverCert() tls.Certificate {
	p, k, _ := w.ca.Issue(certs.Leaf{CommonName: "localhost", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	c, _ := tls.X509KeyPair(p, k)
	return c
}

func (w *world) clientCert(uri string) tls.Certificate {
	p, k, _ := w.clientCA.Issue(certs.Leaf{CommonName: "c", URIs: []string{uri}, Client: true})
	c, _ := tls.X509KeyPair(p, k)
	return c
}

// startAPI serves a protected API over TLS (client certificates requested).
func (w *world) startAPI(v *resource.Verifier) {
	mux := http.NewServeMux()
	hello := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, ok := resource.FromContext(r.Context())
		if !ok {
			http.Error(rw, "no claims", 500)
			return
		}
		json.NewEncoder(rw).Encode(map[string]any{"client_id": c.ClientID, "scopes": c.Scopes(), "bound": c.CertThumbprint() != "", "jkt": c.DPoPThumbprint()})
	})
	mux.Handle("/read", v.Middleware(resource.Scopes("read"))(hello))
	mux.Handle("/admin", v.Middleware(resource.Scopes("admin"))(hello))
	mux.Handle("/strict", v.Middleware(resource.Scopes("read"), resource.WithIntrospection())(hello))
	e := echo.New()
	e.GET("/echo", func(c echo.Context) error {
		claims, _ := echoresource.Claims(c)
		return c.JSON(200, map[string]any{"client_id": claims.ClientID})
	}, echoresource.Middleware(v, resource.Scopes("read")))
	mux.Handle("/echo", e)
	api := httptest.NewUnstartedServer(mux)
	api.Listener.Close()
	api.Listener = w.apiLn
	api.TLS = &tls.Config{Certificates: []tls.Certificate{w.serverCert()}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	api.StartTLS()
	w.t.Cleanup(api.Close)
}

func (w *world) verifier() *resource.Verifier {
	v, err := resource.New(context.Background(), resource.Config{
		Issuer: w.issuer, Audience: apiAudience, MinRefetch: time.Millisecond, DPoP: resource.DPoPConfig{BaseURL: w.api},
		HTTPClient:    &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}},
		Introspection: &resource.Introspection{ClientID: "rs", ClientSecret: w.rsSecret},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func (w *world) source(cert *tls.Certificate, opts ...func(*tokensource.Config)) *tokensource.Source {
	cfg := tokensource.Config{TokenURL: w.issuer + broker.PathToken, ClientID: "m", Certificate: cert, RootCAs: w.pool, Scopes: []string{"read"}}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := tokensource.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// call sends tok to path presenting cert (none when nil).
func (w *world) call(path, tok string, cert *tls.Certificate) (*http.Response, string) {
	cfg := &tls.Config{RootCAs: w.pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, w.api+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestBoundTokenEndToEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	v := w.verifier()
	w.startAPI(v)
	cert := w.clientCert(spiffeID)
	src := w.source(&cert)

	// The kit presents the same certificate to the broker and to the API.
	resp, err := src.Client().Get(w.api + "/read")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"client_id":"m"`) || !strings.Contains(string(b), `"bound":true`) {
		t.Fatalf("bound token with its certificate: %d %s", resp.StatusCode, b)
	}
	tok, _ := src.Token()
	if resp, _ := w.call("/echo", tok.AccessToken, &cert); resp.StatusCode != 200 {
		t.Fatalf("echo middleware: %d", resp.StatusCode)
	}

	other := w.clientCert(spiffeID) // same identity, different key: still not the bound certificate
	for name, c := range map[string]*tls.Certificate{"another certificate": &other, "no certificate": nil} {
		resp, body := w.call("/read", tok.AccessToken, c)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("%s: %d %q %s", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
	if resp, _ := w.call("/admin", tok.AccessToken, &cert); resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("missing scope: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := w.call("/read", "", &cert); resp.StatusCode != 401 || strings.Contains(resp.Header.Get("WWW-Authenticate"), "error=") {
		t.Fatalf("no token: %d %q (RFC 6750 §3.1: no error code)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	wrongAud := w.source(&cert, func(c *tokensource.Config) { c.Resources = []string{"https://other.example.test"} })
	wt, err := wrongAud.Token()
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := w.call("/read", wt.AccessToken, &cert); resp.StatusCode != 401 {
		t.Fatalf("token for another audience: %d", resp.StatusCode)
	}

	// Revocation: seen at once on the introspection route; the plain route trusts the JWT until exp.
	if resp, _ := w.call("/strict", tok.AccessToken, &cert); resp.StatusCode != 200 {
		t.Fatalf("introspection route before revocation: %d", resp.StatusCode)
	}
	revoke(t, w, tok.AccessToken, &cert)
	if resp, _ := w.call("/strict", tok.AccessToken, &cert); resp.StatusCode != 401 {
		t.Fatalf("revoked token accepted on the introspection route: %d", resp.StatusCode)
	}
	if resp, _ := w.call("/read", tok.AccessToken, &cert); resp.StatusCode != 200 {
		t.Fatalf("local verification route: %d", resp.StatusCode)
	}
}

func revoke(t *testing.T, w *world, tok string, cert *tls.Certificate) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool, Certificates: []tls.Certificate{*cert}}}}
	resp, err := c.PostForm(w.issuer+broker.PathRevoke, url.Values{"token": {tok}, "client_id": {"m"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
}

// The kit under a broker that restarts and rotates its keys: no API call fails.
func TestClientKitThroughRestartAndRotation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.startAPI(w.verifier())
	cert := w.clientCert(spiffeID)
	src := w.source(&cert, func(c *tokensource.Config) { c.RefreshAhead = 299 * time.Second }) // refresh on every call
	api := src.Client()
	ctx := context.Background()
	kids := map[string]bool{}
	for i := range 40 {
		switch i {
		case 10:
			w.restart()
		case 20:
			if err := signing.NewLocal(w.store, signing.Options{Alg: "ES256", PublishDelay: 0, MaxLifetime: policy.HardMaxLifetime}).Rotate(ctx, true); err != nil {
				t.Fatal(err)
			}
		case 30:
			w.restart()
		}
		resp, err := api.Get(w.api + "/read")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call %d: status %d", i, resp.StatusCode)
		}
		tok, _ := src.Token()
		kids[strings.SplitN(tok.AccessToken, ".", 2)[0]] = true
	}
	if len(kids) < 2 {
		t.Fatal("the rotation never reached the client: every token has the same header")
	}
}

// FuzzMiddleware: whatever the Authorization header, the middleware never
// lets a request through without a valid token and never fails with a 5xx.
func FuzzMiddleware(f *testing.F) {
	w := newWorld(f)
	v := w.verifier()
	cert := w.clientCert(spiffeID)
	tok, err := w.source(&cert).Token()
	if err != nil {
		f.Fatal(err)
	}
	h := v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(299) }))
	for _, s := range []string{"Bearer " + tok.AccessToken, "Bearer", "Bearer  x", "Basic abc", "bearer a.b.c", "Bearer " + strings.Repeat("a", 9000), "Bearer eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		req := httptest.NewRequest(http.MethodGet, "/read", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 299 || rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, auth)
		}
	})
}

// BenchmarkVerify is the per-request cost of the middleware's check (bound token, keys cached).
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b)
	v := w.verifier()
	cert := w.clientCert(spiffeID)
	tok, err := w.source(&cert).Token()
	if err != nil {
		b.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	req := httptest.NewRequest(http.MethodGet, "/read", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), req, tok.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// Behind a TLS-terminating proxy the binding is checked against the
// certificate the trusted proxy forwards, and a header from anyone else is refused.
func TestBindingThroughTrustedProxyHeader(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cert := w.clientCert(spiffeID)
	tok, err := w.source(&cert).Token()
	if err != nil {
		t.Fatal(err)
	}
	px, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatNginx, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: apiAudience, Proxy: px,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	header := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))
	other := w.clientCert(spiffeID)
	otherLeaf, _ := x509.ParseCertificate(other.Certificate[0])
	otherHeader := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherLeaf.Raw})))
	for _, tc := range []struct {
		name, remote, header string
		ok                   bool
	}{
		{"trusted proxy, bound certificate", "10.0.0.5:40000", header, true},
		{"trusted proxy, another certificate", "10.0.0.5:40000", otherHeader, false},
		{"trusted proxy, no header", "10.0.0.5:40000", "", false},
		{"untrusted peer with the header", "10.0.0.6:40000", header, false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/read", nil)
		req.RemoteAddr = tc.remote
		if tc.header != "" {
			req.Header.Set("X-SSL-Client-Cert", tc.header)
		}
		_, err := v.Verify(context.Background(), req, tok.AccessToken)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
