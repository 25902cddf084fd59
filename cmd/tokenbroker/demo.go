package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
)

const defaultDemoAPI = "127.0.0.1:9443"

// cmdDemo runs the relying-party demo: "demo api" serves a tiny API protected
// by the resource middleware; "demo client" calls it with the client kit over
// mTLS, then replays the same token from another certificate.
func demoCommand(mode string) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		var isf clientcli.IssuerFlags
		isf.Register(fs)
		listen := fs.String("listen", defaultDemoAPI, "api: listen `ADDR`")
		api := fs.String("api", "https://"+defaultDemoAPI, "client: the API's base `URL`")
		clientID := fs.String("client-id", "demo-mtls-spiffe", "client: a tls_client_auth demo client")
		return func(ctx context.Context, e env, _ []string) error {
			pool, err := isf.Roots()
			if err != nil {
				return err
			}
			if mode == "api" {
				return runDemoAPI(ctx, &isf, pool, *listen, e.stdout, e.stderr)
			}
			return runDemoClient(ctx, &isf, pool, *api, *clientID, e.stdout)
		}
	}
}

func runDemoAPI(ctx context.Context, isf *clientcli.IssuerFlags, pool *x509.CertPool, listen string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	// DPoP proofs must name the URL clients call (RFC 9449 §4.3 item 9); the
	// middleware accepts DPoP-bound tokens only when it is told that URL.
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	base := "https://" + listen
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		base = "https://" + net.JoinHostPort("127.0.0.1", port)
	}
	v, err := resource.New(ctx, resource.Config{Issuer: isf.Issuer, Audience: devAudience, Logger: log, DPoP: resource.DPoPConfig{BaseURL: base},
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}})
	if err != nil {
		return err
	}
	// The API's own server certificate comes from the dev CA, so clients trust it with ca.pem.
	ca, err := loadOrCreateCA(isf.StateDir, devCA, devCAKey, "tokenbroker dev CA")
	if err != nil {
		return err
	}
	leaf := certs.Leaf{CommonName: "tokenbroker demo api", Server: true, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	if ip := net.ParseIP(host); ip != nil {
		leaf.IPs = append(leaf.IPs, ip)
	}
	certPEM, keyPEM, err := ca.Issue(leaf)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hello", v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"hello": c.ClientID, "scopes": c.Scopes(), "bound_to": c.CertThumbprint()})
	})))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ConnContext: certs.ConnContext,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo API on https://%s/hello (audience %s, scope read, certificate-bound tokens enforced)\n", ln.Addr(), devAudience)
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runDemoClient(ctx context.Context, isf *clientcli.IssuerFlags, pool *x509.CertPool, api, clientID string, stdout io.Writer) error {
	dir := filepath.Join(isf.StateDir, devDemo, clientID)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return fmt.Errorf("demo client %s: %w (run serve --dev first)", clientID, err)
	}
	src, err := tokensource.New(tokensource.Config{TokenURL: strings.TrimSuffix(isf.Issuer, "/") + broker.PathToken, ClientID: clientID, Certificate: &cert, RootCAs: pool, Scopes: []string{"read"}})
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(api, "/") + "/hello"
	resp, err := src.Client().Get(url)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	fmt.Fprintf(stdout, "1. %s with its own certificate: %d %s\n", clientID, resp.StatusCode, strings.TrimSpace(string(body)))

	// A thief replays the same token from another certificate.
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return err
	}
	thiefPEM, thiefKey, err := certs.SelfSigned(certs.Leaf{CommonName: "thief", Client: true})
	if err != nil {
		return err
	}
	thief, _ := tls.X509KeyPair(thiefPEM, thiefKey)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{thief}, MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(stdout, "2. the same token from another certificate: %d %s\n", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	return nil
}
