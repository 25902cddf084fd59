package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// Dev-mode state directory layout. The names are part of the interface:
// scripts rely on them.
const (
	devCA            = clientcli.DevCA
	devCAKey         = "ca-key.pem"
	devServerCert    = "server.pem"
	devServerKey     = "server-key.pem"
	devClientCA      = "client-ca.pem"
	devClientCAKey   = "client-ca-key.pem"
	devRegToken      = "registration-token"
	devData          = "data"
	devDemo          = "demo"
	devAudience      = "https://api.tokenbroker.test"
	defaultDevState  = clientcli.DefaultDevState
	defaultDevListen = clientcli.DefaultDevListen
)

// demoClient is one dev-mode client; there is one per supported method.
type demoClient struct {
	id     string
	method string
	scope  string
	note   string
}

const demoSPIFFE = "spiffe://tokenbroker.test/ns/demo/sa/api"

var demoClients = []demoClient{
	{"demo-basic", backends.AuthClientSecretBasic, "read write", "client_secret_basic"},
	{"demo-post", backends.AuthClientSecretPost, "read", "client_secret_post"},
	{"demo-mtls-dn", backends.AuthTLSClient, "read", "tls_client_auth, matched by subject DN"},
	{"demo-mtls-spiffe", backends.AuthTLSClient, "read", "tls_client_auth, matched by SPIFFE URI SAN " + demoSPIFFE},
	{"demo-selfsigned", backends.AuthSelfSignedTLSClient, "read", "self_signed_tls_client_auth"},
	{"demo-jwt", backends.AuthPrivateKeyJWT, "read write", "private_key_jwt (ES256 key in key.pem)"},
	{devFedClient, backends.AuthFederatedJWT, "read", "federated_jwt: the demo Kubernetes issuer's token for system:serviceaccount:demo:api"},
	{demoDPoP, backends.AuthClientSecretBasic, "read", "client_secret_basic, DPoP required (RFC 9449; proof key in " + demoDPoPKey + ")"},
	{demoSPIFFEKey(demoX509SVIDID), backends.AuthSPIFFEX509, "read", "spiffe_x509: X.509-SVID " + demoX509SVIDID + " of the demo trust domain " + devTrustDomain},
	{demoSPIFFEKey(demoJWTSVIDID), backends.AuthSPIFFEJWT, "read", "spiffe_jwt: JWT-SVID of " + demoJWTSVIDID},
}

// demoRecord builds a demo client's record and credential files.
func demoRecord(d demoClient, clientCA, spiffeCA *certs.CA) (*backends.Client, map[string][]byte, error) {
	c := &backends.Client{ClientID: d.id, ClientName: "dev demo (" + d.note + ")", TokenEndpointAuthMethod: d.method, Scope: d.scope,
		AllowedResources: []string{devAudience, "https://billing.tokenbroker.test"}}
	files := map[string][]byte{"client_id": []byte(d.id)}
	var certPEM, keyPEM []byte
	var err error
	switch d.id {
	case "demo-mtls-dn":
		c.TLSClientAuthSubjectDN = "CN=demo-mtls-dn,O=tokenbroker dev"
		certPEM, keyPEM, err = clientCA.Issue(certs.Leaf{CommonName: "demo-mtls-dn", Organization: []string{"tokenbroker dev"}, Client: true, Validity: 365 * 24 * time.Hour})
	case "demo-mtls-spiffe":
		c.TLSClientAuthSANURI = demoSPIFFE
		certPEM, keyPEM, err = clientCA.Issue(certs.Leaf{CommonName: "demo-mtls-spiffe", URIs: []string{demoSPIFFE}, Client: true, Validity: 365 * 24 * time.Hour})
	case "demo-selfsigned":
		certPEM, keyPEM, err = certs.SelfSigned(certs.Leaf{CommonName: "demo-selfsigned", Client: true, Validity: 365 * 24 * time.Hour})
		if err == nil {
			c.JWKS, err = jwksOf(certPEM, true)
		}
	case demoDPoP:
		c.DPoPBoundAccessTokens = true
		var key *ecdsa.PrivateKey
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
			var pemKey []byte
			if pemKey, err = certs.MarshalPrivateKeyPEM(key); err == nil {
				files[demoDPoPKey] = pemKey
			}
		}
	case demoSPIFFEKey(demoX509SVIDID):
		certPEM, keyPEM, err = demoX509SVID(spiffeCA)
	case demoSPIFFEKey(demoJWTSVIDID):
		files["spiffe_id"] = []byte(demoJWTSVIDID)
	case "demo-jwt":
		var key *ecdsa.PrivateKey
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
			keyPEM, err = certs.MarshalPrivateKeyPEM(key)
			c.JWKS, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "demo-jwt-1", Algorithm: "ES256", Use: "sig"}}})
		}
	case devFedClient:
		err = demoFederated(c, files)
	}
	if err != nil {
		return nil, nil, err
	}
	if certPEM != nil {
		files["cert.pem"] = certPEM
	}
	if keyPEM != nil {
		files["key.pem"] = keyPEM
	}
	return c, files, nil
}

// jwksOf returns a JWK Set holding the certificate's key (and, withX5C, the certificate).
func jwksOf(certPEM []byte, withX5C bool) (json.RawMessage, error) {
	cs, err := certs.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, err
	}
	k := jose.JSONWebKey{Key: cs[0].PublicKey, KeyID: certs.Thumbprint(cs[0]), Use: "sig"}
	if withX5C {
		k.Certificates = cs[:1]
	}
	return json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
}

// devConfig returns the configuration dev mode runs with.
func devConfig(stateDir, listen, issuer string) *config.Config {
	fc := &config.Config{Listen: listen, Issuer: issuer}
	fc.TLS.CertFile = filepath.Join(stateDir, devServerCert)
	fc.TLS.KeyFile = filepath.Join(stateDir, devServerKey)
	fc.Backend.Type = file.Name
	fc.Backend.Section(file.Name).(*file.Settings).Dir = filepath.Join(stateDir, devData)
	fc.TLS.ClientCAFiles = []string{filepath.Join(stateDir, devClientCA)}
	fc.Tokens.DefaultAudience = devAudience
	fc.Registration.InitialAccessTokenFile = filepath.Join(stateDir, devRegToken)
	fc.Registration.AllowedResources = []string{devAudience, "https://billing.tokenbroker.test"}
	fc.Cache.TTL = config.Duration(5 * time.Second) // dev: CLI edits show up quickly
	fc.Log.Format = "text"
	// dev: the load tool drives one client flat out (~10,000 assertions/s,
	// each jti kept 90 s); the store's own bound still holds.
	fc.SharedState.MaxJTIsPerClient = 1_000_000
	fc.Federation.SPIFFE.TrustDomains = map[string]config.SPIFFETrustDomain{devTrustDomain: {BundleFile: filepath.Join(stateDir, devSPIFFEBundle)}}
	addDevFederation(fc, stateDir)
	return fc
}

// devIssuer derives the issuer from the listen address: a wildcard host
// becomes 127.0.0.1.
func devIssuer(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// ensureDevState creates the state directory on first run and reuses it
// afterwards. The server certificate is re-issued from the persisted CA on
// every start so it always covers the current listen host.
func ensureDevState(ctx context.Context, dir, issuerHost string) (created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	ca, err := loadOrCreateCA(dir, devCA, devCAKey, "tokenbroker dev CA")
	if err != nil {
		return false, err
	}
	leaf := certs.Leaf{CommonName: "tokenbroker dev server", Server: true, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, Validity: 30 * 24 * time.Hour}
	if ip := net.ParseIP(issuerHost); ip != nil {
		leaf.IPs = append(leaf.IPs, ip)
	} else if issuerHost != "localhost" {
		leaf.DNSNames = append(leaf.DNSNames, issuerHost)
	}
	certPEM, keyPEM, err := ca.Issue(leaf)
	if err != nil {
		return false, err
	}
	if err := writeFiles(dir, map[string][]byte{devServerCert: certPEM, devServerKey: keyPEM}); err != nil {
		return false, err
	}
	clientCA, err := loadOrCreateCA(dir, devClientCA, devClientCAKey, "tokenbroker dev client CA")
	if err != nil {
		return false, err
	}
	spiffeCA, err := ensureDevSPIFFE(dir)
	if err != nil {
		return false, err
	}
	regPath := filepath.Join(dir, devRegToken)
	if !fileExists(regPath) {
		if err := os.WriteFile(regPath, []byte(registry.NewSecret()+"\n"), 0o600); err != nil {
			return false, err
		}
	}
	store, err := file.New(filepath.Join(dir, devData))
	if err != nil {
		return false, err
	}
	defer store.Close()
	if created, err = signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		return false, err
	}
	reg := registry.New(store, registry.Config{Methods: runtime.SupportedMethods})
	for _, d := range demoClients {
		if _, err := store.GetClient(ctx, d.id); err == nil {
			continue
		}
		c, files, err := demoRecord(d, clientCA, spiffeCA)
		if err != nil {
			return false, fmt.Errorf("demo client %s: %w", d.id, err)
		}
		r, err := reg.Create(ctx, c)
		if err != nil {
			return false, fmt.Errorf("demo client %s: %w", d.id, err)
		}
		if r.Secret != "" {
			files["secret"] = []byte(r.Secret)
		}
		if err := writeFiles(filepath.Join(dir, devDemo, d.id), files); err != nil {
			return false, err
		}
		created = true
	}
	return created, nil
}

func loadOrCreateCA(dir, certName, keyName, cn string) (*certs.CA, error) {
	cp, kp := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if fileExists(cp) && fileExists(kp) {
		c, err1 := os.ReadFile(cp)
		k, err2 := os.ReadFile(kp)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		return certs.LoadCA(c, k)
	}
	ca, err := certs.NewCA(cn, 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	return ca, writeFiles(dir, map[string][]byte{certName: ca.CertPEM(), keyName: keyPEM})
}

func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// printDevBanner tells a new user how to get a token, with lines they can paste.
func printDevBanner(w io.Writer, stateDir, issuer string) {
	base := strings.TrimSuffix(issuer, "/")
	ca := filepath.Join(stateDir, devCA)
	fmt.Fprintf(w, "\ntokenbroker dev mode — NOT for production\n\n")
	fmt.Fprintf(w, "  issuer:    %s\n  metadata:  %s%s\n  jwks:      %s%s\n  state dir: %s\n\n", issuer, base, broker.PathMetadata, base, broker.PathJWKS, stateDir)
	fmt.Fprintf(w, "Get a token (paste into another shell in this directory):\n\n")
	token := base + broker.PathToken
	for _, d := range demoClients {
		demo := filepath.Join(stateDir, devDemo, d.id)
		secret := filepath.Join(demo, "secret")
		fmt.Fprintf(w, "  # %s — %s\n", d.id, d.note)
		switch d.method {
		case backends.AuthClientSecretBasic:
			if d.id == demoDPoP {
				fmt.Fprintf(w, "  curl --cacert %s -u \"%s:$(cat %s)\" -d grant_type=client_credentials \\\n    -H \"DPoP: $(%s %s --key %s --htu %s)\" %s\n\n",
					ca, d.id, secret, selfCommand(), dpopProofCmd, filepath.Join(demo, demoDPoPKey), token, token)
				continue
			}
			fmt.Fprintf(w, "  curl --cacert %s -u \"%s:$(cat %s)\" -d grant_type=client_credentials %s\n\n", ca, d.id, secret, token)
		case backends.AuthClientSecretPost:
			fmt.Fprintf(w, "  curl --cacert %s -d grant_type=client_credentials -d client_id=%s --data-urlencode client_secret@%s %s\n\n", ca, d.id, secret, token)
		case backends.AuthTLSClient, backends.AuthSelfSignedTLSClient:
			fmt.Fprintf(w, "  curl --cacert %s --cert %s --key %s -d grant_type=client_credentials -d client_id=%s %s\n\n",
				ca, filepath.Join(demo, "cert.pem"), filepath.Join(demo, "key.pem"), d.id, token)
		case backends.AuthSPIFFEX509:
			fmt.Fprintf(w, "  curl --cacert %s --cert %s --key %s -d grant_type=client_credentials -d client_id=%s %s\n\n",
				ca, filepath.Join(demo, "cert.pem"), filepath.Join(demo, "key.pem"), demoX509SVIDID, token)
		case backends.AuthSPIFFEJWT:
			fmt.Fprintf(w, "  curl --cacert %s -d grant_type=client_credentials -d client_assertion_type=%s \\\n    -d client_assertion=$(%s assertion --state-dir %s --jwt-svid %s --aud %s) %s\n\n",
				ca, spiffe.AssertionType, selfCommand(), stateDir, demoJWTSVIDID, issuer, token)
		case backends.AuthPrivateKeyJWT:
			fmt.Fprintf(w, "  curl --cacert %s -d grant_type=client_credentials -d client_assertion_type=%s \\\n    -d client_assertion=$(%s assertion --client-id %s --key %s --aud %s) %s\n\n",
				ca, authn.AssertionType, selfCommand(), d.id, filepath.Join(demo, "key.pem"), issuer, token)
		case backends.AuthFederatedJWT:
			fmt.Fprintf(w, "  curl --cacert %s -d grant_type=client_credentials -d client_id=%s -d client_assertion_type=%s \\\n    -d client_assertion=$(%s federated-token --state-dir %s --namespace demo --service-account api --aud %s) %s\n\n",
				ca, d.id, authn.AssertionType, selfCommand(), stateDir, issuer, token)
		}
	}
	fmt.Fprintf(w, "  # template %s — any service account of namespace demo-jobs, no client registered (sub: %s#system:serviceaccount:demo-jobs:…)\n", devFedTemplate, devFedIssuer)
	fmt.Fprintf(w, "  curl --cacert %s -d grant_type=client_credentials -d client_assertion_type=%s \\\n    -d client_assertion=$(%s federated-token --state-dir %s --namespace demo-jobs --service-account nightly --aud %s) %s\n\n",
		ca, authn.AssertionType, selfCommand(), stateDir, issuer, token)
	fmt.Fprintf(w, "Register a client (RFC 7591):\n\n  curl --cacert %s -H \"Authorization: Bearer $(cat %s)\" -H 'Content-Type: application/json' \\\n    -d '{\"client_name\":\"my-service\",\"scope\":\"read\"}' %s%s\n\n",
		ca, filepath.Join(stateDir, devRegToken), base, broker.PathRegister)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
