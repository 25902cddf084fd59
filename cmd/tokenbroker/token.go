package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// tokenCommand gets a token as any client: secret, private key, or certificate.
func tokenCommand(fs *flag.FlagSet) runFunc {
	var isf clientcli.IssuerFlags
	isf.Register(fs)
	var cf clientcli.CredFlags
	cf.Register(fs)
	post := fs.Bool("post", false, "send the secret in the body (client_secret_post)")
	scope := fs.String("scope", "", "space-separated scopes")
	var resources clientcli.ListFlag
	fs.Var(&resources, "resource", "resource `URI` (repeat)")
	decode := fs.Bool("decode", false, "print the decoded header and claims instead of the token")
	var df dpopFlags
	df.register(fs)
	return func(ctx context.Context, e env, _ []string) error {
		c, err := cf.Load()
		if err != nil {
			return err
		}
		roots, err := isf.Roots()
		if err != nil {
			return err
		}
		cfg := tokensource.Config{TokenURL: strings.TrimSuffix(isf.Issuer, "/") + broker.PathToken, ClientID: cf.ClientID, RootCAs: roots, Resources: resources,
			Scopes: strings.Fields(*scope), SecretInBody: *post, Audience: isf.Issuer, Secret: c.Secret, Certificate: c.Cert}
		if c.Key != nil {
			cfg.PrivateKey, cfg.KeyID = c.Key, c.KID
		}
		if cfg.DPoP, err = df.config(); err != nil {
			return err
		}
		src, err := tokensource.New(cfg)
		if err != nil {
			return err
		}
		tok, err := src.TokenContext(ctx)
		if err != nil {
			return err
		}
		if cfg.DPoP != nil {
			return df.print(e.stdout, src, tok, &isf, *decode)
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
	var isf clientcli.IssuerFlags
	isf.Register(fs)
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
func inspect(ctx context.Context, stdout io.Writer, isf *clientcli.IssuerFlags, aud, certFile, tok string) error {
	roots, err := isf.Roots()
	if err != nil {
		return err
	}
	v, err := resource.New(ctx, resource.Config{Issuer: isf.Issuer, Audience: aud, AnyAudience: aud == "",
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
	fmt.Fprintf(stdout, "  client_id: %s\n  sub:       %s\n  aud:       %s\n  scope:     %s\n  jti:       %s\n", claims.ClientID, claims.Subject, strings.Join(claims.Audience, " "), claims.Scope, claims.ID)
	iat, exp := time.Unix(claims.IssuedAt, 0).UTC(), time.Unix(claims.Expiry, 0).UTC()
	fmt.Fprintf(stdout, "  issued:    %s\n  expires:   %s (%s left)\n", iat.Format(time.RFC3339), exp.Format(time.RFC3339), time.Until(exp).Round(time.Second))
	switch {
	case claims.DPoPThumbprint() != "":
		// RFC 9449 §6.1: checking it needs a proof of the request, not a file.
		fmt.Fprintf(stdout, "  binding:   cnf.jkt %s (DPoP: present it as \"Authorization: DPoP\" with a proof by that key)\n", claims.DPoPThumbprint())
	case claims.CertThumbprint() == "":
		fmt.Fprintln(stdout, "  binding:   none (bearer token)")
	case certFile != "":
		fmt.Fprintf(stdout, "  binding:   cnf.x5t#S256 %s — matches %s\n", claims.CertThumbprint(), certFile)
	default:
		fmt.Fprintf(stdout, "  binding:   cnf.x5t#S256 %s (give --cert to check a certificate)\n", claims.CertThumbprint())
	}
	return nil
}
