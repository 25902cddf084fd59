package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// issuerFlags locate a broker and how to trust it.
type issuerFlags struct {
	issuer, cacert, stateDir string
}

func (f *issuerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.issuer, "issuer", "https://"+defaultDevListen, "the broker's issuer `URL`")
	fs.StringVar(&f.cacert, "cacert", "", "CA `FILE` to trust for the broker (default: STATE_DIR/ca.pem when present, else system roots)")
	fs.StringVar(&f.stateDir, "state-dir", defaultDevState, "dev-mode state `DIR`")
}

func (f *issuerFlags) roots() (*x509.CertPool, error) {
	p := f.cacert
	if p == "" {
		if dp := filepath.Join(f.stateDir, devCA); fileExists(dp) {
			p = dp
		} else {
			return nil, nil
		}
	}
	b, err := config.ReadLimited(p, 1<<20)
	if err != nil {
		return nil, err
	}
	return certs.PoolFromPEM(b)
}

// credFlags are a client's credentials on the command line (token, bench).
type credFlags struct {
	clientID, secret, secretFile, keyFile, kid, certFile, certKey string
}

func (f *credFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.clientID, "client-id", "", "client_id (required)")
	fs.StringVar(&f.secret, "secret", "", "client secret (prefer --secret-file)")
	fs.StringVar(&f.secretFile, "secret-file", "", "`FILE` holding the client secret")
	fs.StringVar(&f.keyFile, "key", "", "private key `FILE` for private_key_jwt")
	fs.StringVar(&f.kid, "kid", "", "kid of the private key (default CLIENT_ID-1, as dev mode registers it)")
	fs.StringVar(&f.certFile, "cert", "", "client certificate `FILE` (tls_client_auth, or to bind the token)")
	fs.StringVar(&f.certKey, "cert-key", "", "the certificate's key `FILE`")
}

// creds are the loaded credentials; any of them may be empty.
type creds struct {
	secret string
	key    crypto.Signer
	kid    string
	cert   *tls.Certificate
}

func (f *credFlags) load() (*creds, error) {
	if f.clientID == "" {
		return nil, errors.New("--client-id is required")
	}
	c := &creds{secret: f.secret, kid: f.kid}
	if c.kid == "" {
		c.kid = f.clientID + "-1"
	}
	if f.secretFile != "" {
		b, err := config.ReadLimited(f.secretFile, 4096)
		if err != nil {
			return nil, err
		}
		c.secret = strings.TrimSpace(string(b))
	}
	if f.keyFile != "" {
		b, err := config.ReadLimited(f.keyFile, 64<<10)
		if err != nil {
			return nil, err
		}
		if c.key, err = certs.ParsePrivateKeyPEM(b); err != nil {
			return nil, err
		}
	}
	if f.certFile != "" {
		tc, err := tls.LoadX509KeyPair(f.certFile, f.certKey)
		if err != nil {
			return nil, fmt.Errorf("--cert/--cert-key: %w", err)
		}
		c.cert = &tc
	}
	return c, nil
}

// tokenCommand gets a token as any client: secret, private key, or certificate.
func tokenCommand(fs *flag.FlagSet) runFunc {
	var isf issuerFlags
	isf.register(fs)
	var cf credFlags
	cf.register(fs)
	post := fs.Bool("post", false, "send the secret in the body (client_secret_post)")
	scope := fs.String("scope", "", "space-separated scopes")
	var resources listFlag
	fs.Var(&resources, "resource", "resource `URI` (repeat)")
	decode := fs.Bool("decode", false, "print the decoded header and claims instead of the token")
	return func(ctx context.Context, e env, _ []string) error {
		c, err := cf.load()
		if err != nil {
			return err
		}
		roots, err := isf.roots()
		if err != nil {
			return err
		}
		cfg := tokensource.Config{TokenURL: strings.TrimSuffix(isf.issuer, "/") + broker.PathToken, ClientID: cf.clientID, RootCAs: roots, Resources: resources,
			Scopes: strings.Fields(*scope), SecretInBody: *post, Audience: isf.issuer, Secret: c.secret, Certificate: c.cert}
		if c.key != nil {
			cfg.PrivateKey, cfg.KeyID = c.key, c.kid
		}
		src, err := tokensource.New(cfg)
		if err != nil {
			return err
		}
		tok, err := src.TokenContext(ctx)
		if err != nil {
			return err
		}
		if !*decode {
			fmt.Fprintln(e.stdout, tok.AccessToken)
			return nil
		}
		return printDecoded(e.stdout, tok.AccessToken)
	}
}

func printDecoded(w io.Writer, tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	out := map[string]json.RawMessage{}
	for i, name := range []string{"header", "claims"} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		out[name] = b
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// inspectCommand verifies a token against the issuer's JWKS and shows its
// claims, binding and time left.
func inspectCommand(fs *flag.FlagSet) runFunc {
	var isf issuerFlags
	isf.register(fs)
	aud := fs.String("aud", "", "require this audience (default: any)")
	certFile := fs.String("cert", "", "check the binding against this certificate `FILE`")
	return func(ctx context.Context, e env, args []string) error {
		tok := ""
		if len(args) == 1 {
			tok = args[0]
		} else {
			b, err := io.ReadAll(io.LimitReader(e.stdin, 16<<10))
			if err != nil {
				return err
			}
			tok = strings.TrimSpace(string(b))
		}
		return inspect(ctx, e.stdout, &isf, *aud, *certFile, tok)
	}
}

// inspect verifies tok at the issuer and prints it; with certFile, the
// binding is checked against that certificate.
func inspect(ctx context.Context, stdout io.Writer, isf *issuerFlags, aud, certFile, tok string) error {
	roots, err := isf.roots()
	if err != nil {
		return err
	}
	v, err := resource.New(ctx, resource.Config{Issuer: isf.issuer, Audience: aud, AnyAudience: aud == "",
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}})
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	if certFile != "" {
		b, err := config.ReadLimited(certFile, 1<<20)
		if err != nil {
			return err
		}
		cs, err := certs.ParseCertificatesPEM(b)
		if err != nil {
			return err
		}
		req.TLS = &tls.ConnectionState{PeerCertificates: cs}
	}
	var claims *resource.Claims
	if certFile != "" {
		claims, err = v.Verify(ctx, req, tok)
	} else {
		claims, err = v.VerifyUnbound(ctx, tok) // the binding needs --cert to check
	}
	if err != nil {
		return fmt.Errorf("token does not verify: %w", err)
	}
	fmt.Fprintf(stdout, "valid token from %s\n", claims.Issuer)
	fmt.Fprintf(stdout, "  client_id: %s\n  sub:       %s\n  aud:       %s\n  scope:     %s\n  jti:       %s\n", claims.ClientID, claims.Subject, strings.Join(claims.Audience, " "), strings.Join(claims.Scopes, " "), claims.ID)
	fmt.Fprintf(stdout, "  issued:    %s\n  expires:   %s (%s left)\n", claims.IssuedAt.UTC().Format(time.RFC3339), claims.Expiry.UTC().Format(time.RFC3339), time.Until(claims.Expiry).Round(time.Second))
	switch {
	case claims.CertThumbprint == "":
		fmt.Fprintln(stdout, "  binding:   none (bearer token)")
	case certFile != "":
		fmt.Fprintf(stdout, "  binding:   cnf.x5t#S256 %s — matches %s\n", claims.CertThumbprint, certFile)
	default:
		fmt.Fprintf(stdout, "  binding:   cnf.x5t#S256 %s (give --cert to check a certificate)\n", claims.CertThumbprint)
	}
	return nil
}
