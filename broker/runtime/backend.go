package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awssm"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// SupportedMethods are the client authentication methods this build can
// register; the CLI and the registry validate against them.
var SupportedMethods = []string{backends.AuthClientSecretBasic, backends.AuthClientSecretPost, backends.AuthPrivateKeyJWT, backends.AuthTLSClient, backends.AuthSelfSignedTLSClient,
	backends.AuthSPIFFEX509, backends.AuthSPIFFEJWT}

// OpenStore opens the configured backend: the one way to open one, for the
// server and the CLI alike. The caller closes it.
func OpenStore(ctx context.Context, fc *config.Config, log *slog.Logger) (backends.Store, error) {
	auth, err := storeAuth(fc)
	if err != nil {
		return nil, err
	}
	switch fc.Backend.Type {
	case "", "file":
		return file.New(fc.Backend.File.Dir)
	case "vault":
		v := fc.Backend.Vault
		return vault.New(ctx, vault.Config{Address: v.Address, Mount: v.Mount, Prefix: v.Prefix, Auth: auth,
			CACert: v.CACert, ClientCert: v.ClientCert, ClientKey: v.ClientKey, Timeout: time.Duration(v.Timeout), ReadOnly: v.ReadOnly, Logger: log})
	case "awssm":
		a := fc.Backend.AWSSM
		return awssm.New(ctx, awssm.Config{Region: a.Region, Endpoint: a.Endpoint, Prefix: a.Prefix, KMSKeyID: a.KMSKeyID,
			PreviousGrace: time.Duration(a.PreviousGrace), RecoveryDays: int64(a.RecoveryDays), Timeout: time.Duration(a.Timeout)})
	}
	return nil, config.Errorf("backend.type", "%q is not supported", fc.Backend.Type)
}

// storeAuth reads the Vault credentials the configuration names (nil for
// other backends); it connects to nothing.
func storeAuth(fc *config.Config) (vault.Auth, error) {
	if fc.Backend.Type != "vault" {
		return nil, nil
	}
	v := fc.Backend.Vault
	switch v.Auth.Method {
	case "token":
		b, err := config.ReadLimited(v.Auth.TokenFile, 4096)
		if err != nil {
			return nil, config.Errorf("backend.vault.auth.token_file", "%w", err)
		}
		return vault.Token(strings.TrimSpace(string(b))), nil
	case "approle":
		b, err := config.ReadLimited(v.Auth.SecretIDFile, 4096)
		if err != nil {
			return nil, config.Errorf("backend.vault.auth.secret_id_file", "%w", err)
		}
		return vault.AppRole(v.Auth.RoleID, strings.TrimSpace(string(b)), v.Auth.Mount)
	case "cert":
		return vault.Cert(v.Auth.CertRole, v.Auth.Mount), nil
	}
	return nil, config.Errorf("backend.vault.auth.method", "%q is not token, approle or cert", v.Auth.Method)
}

// OpenSigning opens the configured signing source over store (any source a
// backend package registered with the signing package). The caller closes it.
func OpenSigning(ctx context.Context, store backends.KeyStore, fc *config.Config) (signing.Manager, error) {
	m, err := signing.Open(ctx, store, SigningOptions(fc))
	if err != nil {
		return nil, signingError(err)
	}
	return m, nil
}

// SigningOptions are the signing package's options for fc (with its defaults
// as broker.Config fills them).
func SigningOptions(fc *config.Config) signing.Options {
	cfg := broker.Config{SigningAlg: fc.Tokens.SigningAlg, JWKSMaxAge: time.Duration(fc.Keys.JWKSMaxAge), MaxTokenLifetime: time.Duration(fc.Tokens.MaxLifetime)}
	cfg.Validate() // fills the defaults; settings reported any error
	return signing.Options{Source: fc.Signing.Type, Alg: cfg.SigningAlg, PublishDelay: cfg.JWKSMaxAge,
		MaxLifetime: cfg.MaxTokenLifetime, Mount: fc.Signing.Transit.Mount, Key: fc.Signing.Transit.Key}
}

// signingError names the key of a signing error.
func signingError(err error) error {
	if errors.Is(err, signing.ErrUnknownSource) {
		return config.Errorf("signing.type", "%w", err)
	}
	return fmt.Errorf("signing: %w", err)
}
