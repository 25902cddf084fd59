package oidctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/certs"
)

// Issuer is a local OIDC issuer over real TLS on loopback.
type Issuer struct {
	// URL is the issuer identifier, https://127.0.0.1:PORT[/path].
	URL string
	// Roots trusts the issuer's TLS certificate.
	Roots *x509.CertPool
	// CAPEM is the same CA, PEM-encoded.
	CAPEM []byte

	srv *http.Server
	ln  net.Listener

	mu        sync.Mutex
	keys      []*jose.JSONWebKey // signing keys, the active one last
	published []*jose.JSONWebKey // what the JWKS serves
	discovery map[string]any     // overrides of the discovery document (hostile tests)
	fetches   int
}

// Option configures New.
type Option func(*options)

type options struct {
	alg  jose.SignatureAlgorithm
	path string
}

// WithAlg picks the signing algorithm (default RS256, as kube-apiserver and
// GitHub sign; ES256 is faster to generate).
func WithAlg(a jose.SignatureAlgorithm) Option { return func(o *options) { o.alg = a } }

// WithPath puts the issuer under a path (https://host:port/PATH).
func WithPath(p string) Option { return func(o *options) { o.path = "/" + strings.Trim(p, "/") } }

// New starts an issuer with one signing key. Close stops it.
func New(opts ...Option) (*Issuer, error) {
	o := options{alg: jose.RS256}
	for _, f := range opts {
		f(&o)
	}
	ca, err := certs.NewCA("oidctest CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue(certs.Leaf{CommonName: "oidctest", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	is := &Issuer{URL: "https://" + ln.Addr().String() + o.path, Roots: roots, CAPEM: ca.CertPEM(), ln: ln}
	if err := is.addKey(o.alg); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+o.path+"/.well-known/openid-configuration", is.serveDiscovery)
	mux.HandleFunc("GET "+o.path+"/openid/v1/jwks", is.serveJWKS)
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		_ = is.srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	return is, nil
}

// Close stops the server; safe to call twice.
func (is *Issuer) Close() error {
	err := is.srv.Shutdown(context.Background())
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// JWKSURI is where the keys are published (kube-apiserver's path).
func (is *Issuer) JWKSURI() string { return is.URL + "/openid/v1/jwks" }

// Fetches counts the JWKS documents served.
func (is *Issuer) Fetches() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.fetches
}

func (is *Issuer) addKey(alg jose.SignatureAlgorithm) error {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return fmt.Errorf("oidctest: unsupported alg %s", alg)
	}
	if err != nil {
		return err
	}
	var kid [8]byte
	_, _ = rand.Read(kid[:])
	k := &jose.JSONWebKey{Key: priv, KeyID: hex.EncodeToString(kid[:]), Algorithm: string(alg), Use: "sig"}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	is.published = append(is.published, k)
	return nil
}

// Rotate adds a new active signing key of alg; the previous keys stay
// published (kube-apiserver publishes every key it verifies with) until Retire.
func (is *Issuer) Rotate(alg jose.SignatureAlgorithm) error { return is.addKey(alg) }

// Retire unpublishes every key but the active one.
func (is *Issuer) Retire() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = []*jose.JSONWebKey{is.keys[len(is.keys)-1]}
}

// SetDiscovery overrides members of the discovery document (nil value: remove).
func (is *Issuer) SetDiscovery(k string, v any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.discovery == nil {
		is.discovery = map[string]any{}
	}
	is.discovery[k] = v
}

func (is *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	// kube-apiserver's document (/.well-known/openid-configuration): issuer,
	// jwks_uri, response_types_supported, subject_types_supported,
	// id_token_signing_alg_values_supported.
	doc := map[string]any{
		"issuer":                                is.URL,
		"jwks_uri":                              is.JWKSURI(),
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}
	is.mu.Lock()
	for k, v := range is.discovery {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	is.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (is *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	is.mu.Lock()
	is.fetches++
	set := jose.JSONWebKeySet{}
	for _, k := range is.published {
		set.Keys = append(set.Keys, k.Public())
	}
	is.mu.Unlock()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=60")
	_ = json.NewEncoder(w).Encode(set)
}
