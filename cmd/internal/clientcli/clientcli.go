package clientcli

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// The dev-mode layout the client flags default to (serve --dev).
const (
	DefaultDevState  = ".tokenbroker-dev"
	DefaultDevListen = "127.0.0.1:8443"
	DevCA            = "ca.pem"
)

// ListFlag is a repeatable string flag.
type ListFlag []string

func (l *ListFlag) String() string     { return strings.Join(*l, ",") }
func (l *ListFlag) Set(s string) error { *l = append(*l, s); return nil }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// IssuerFlags locate a broker and how to trust it.
type IssuerFlags struct {
	Issuer, CACert, StateDir string
}

func (f *IssuerFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Issuer, "issuer", "https://"+DefaultDevListen, "the broker's issuer `URL`")
	fs.StringVar(&f.CACert, "cacert", "", "CA `FILE` to trust for the broker (default: STATE_DIR/ca.pem when present, else system roots)")
	fs.StringVar(&f.StateDir, "state-dir", DefaultDevState, "dev-mode state `DIR`")
}

// Roots is the pool to trust the broker with (nil: the system roots).
func (f *IssuerFlags) Roots() (*x509.CertPool, error) {
	p := f.CACert
	if p == "" {
		if dp := filepath.Join(f.StateDir, DevCA); fileExists(dp) {
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

// CredFlags are a client's credentials on the command line (token, bench).
type CredFlags struct {
	ClientID, secret, secretFile, keyFile, kid, certFile, certKey string
}

func (f *CredFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.ClientID, "client-id", "", "client_id (required)")
	fs.StringVar(&f.secret, "secret", "", "client secret (prefer --secret-file)")
	fs.StringVar(&f.secretFile, "secret-file", "", "`FILE` holding the client secret")
	fs.StringVar(&f.keyFile, "key", "", "private key `FILE` for private_key_jwt")
	fs.StringVar(&f.kid, "kid", "", "kid of the private key (default CLIENT_ID-1, as dev mode registers it)")
	fs.StringVar(&f.certFile, "cert", "", "client certificate `FILE` (tls_client_auth, or to bind the token)")
	fs.StringVar(&f.certKey, "cert-key", "", "the certificate's key `FILE`")
}

// Creds are the loaded credentials; any of them may be empty.
type Creds struct {
	Secret string
	Key    crypto.Signer
	KID    string
	Cert   *tls.Certificate
}

// maxKeyFile bounds a private key PEM file (an RSA-4096 key is about 3 KiB).
const maxKeyFile = 64 << 10

// ReadKey reads the private key PEM file at path (the forms
// certs.ParsePrivateKeyPEM takes), refusing a file over 64 KiB.
func ReadKey(path string) (crypto.Signer, error) {
	b, err := config.ReadLimited(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	return certs.ParsePrivateKeyPEM(b)
}

// Load reads the credentials the flags name.
func (f *CredFlags) Load() (*Creds, error) {
	if f.ClientID == "" {
		return nil, errors.New("--client-id is required")
	}
	c := &Creds{Secret: f.secret, KID: f.kid}
	if c.KID == "" {
		c.KID = f.ClientID + "-1"
	}
	if f.secretFile != "" {
		b, err := config.ReadLimited(f.secretFile, 4096)
		if err != nil {
			return nil, err
		}
		c.Secret = strings.TrimSpace(string(b))
	}
	if f.keyFile != "" {
		var err error
		if c.Key, err = ReadKey(f.keyFile); err != nil {
			return nil, err
		}
	}
	if f.certFile != "" {
		tc, err := tls.LoadX509KeyPair(f.certFile, f.certKey)
		if err != nil {
			return nil, fmt.Errorf("--cert/--cert-key: %w", err)
		}
		c.Cert = &tc
	}
	return c, nil
}

// SignAssertion mints an RFC 7523 client assertion: iss and sub clientID,
// aud the broker's issuer, a random jti, valid for life.
func SignAssertion(key any, alg jose.SignatureAlgorithm, kid, clientID, aud string, life time.Duration) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", fmt.Errorf("assertion: %w", err)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := time.Now()
	return jwt.Signed(s).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(life)),
		ID: base64.RawURLEncoding.EncodeToString(id[:]),
	}).Serialize()
}
