package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// SupportedMethods are the client authentication methods this build can
// register; the CLI and the registry validate against them.
var SupportedMethods = []string{backends.AuthClientSecretBasic, backends.AuthClientSecretPost, backends.AuthPrivateKeyJWT, backends.AuthTLSClient, backends.AuthSelfSignedTLSClient, backends.AuthFederatedJWT,
	backends.AuthSPIFFEX509, backends.AuthSPIFFEJWT}

// OpenStore opens the configured backend (any kind a backend package
// registered with backends.Register): the one way to open one, for the
// server and the CLI alike. The caller closes it.
func OpenStore(ctx context.Context, fc *config.Config, log *slog.Logger) (backends.Store, error) {
	kind, settings, err := backendOf(fc)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	st, err := kind.Open(ctx, settings, backends.OpenOptions{Logger: log})
	if err != nil {
		return nil, backendError(kind.Name, err)
	}
	return st, nil
}

// backendOf is the registered backend backend.type names and its settings.
func backendOf(fc *config.Config) (backends.Kind, any, error) {
	name := fc.Backend.Type
	if name == "" {
		name = config.DefaultBackend
	}
	kind, err := backends.Lookup(name)
	if err != nil {
		return backends.Kind{}, nil, config.Errorf("backend.type", "%w", err)
	}
	settings := fc.Backend.Settings(name)
	if settings == nil {
		settings = kind.NewSettings() // a Config built in code that left the section unset
	}
	return kind, settings, nil
}

// validateBackend checks the selected backend's section without I/O; each
// error names its key.
func validateBackend(fc *config.Config) error {
	kind, settings, err := backendOf(fc)
	if err != nil {
		return err
	}
	var errs []error
	for _, err := range unjoin(kind.Validate(settings, backends.Needs{Writes: fc.Registration.InitialAccessTokenFile != ""})) {
		errs = append(errs, backendError(kind.Name, err))
	}
	return errors.Join(errs...)
}

// checkBackend reads the files the selected backend's section names
// (credentials), connecting to nothing.
func checkBackend(fc *config.Config) error {
	kind, settings, err := backendOf(fc)
	if err != nil {
		return err
	}
	if err := kind.Check(settings); err != nil {
		return backendError(kind.Name, err)
	}
	return nil
}

// backendError names the key of a backend's field error (backend.vault.auth.token_file).
func backendError(kind string, err error) error {
	var fe *backends.FieldError
	if errors.As(err, &fe) {
		return config.Errorf(config.BackendKey(kind, fe.Field), "%w", fe.Err)
	}
	return err
}

// vaultPKIMounts is backend.vault.pki_mounts: Vault PKI issuers trusted for
// tls_client_auth (a feature of the Vault backend, not a way to open one).
func vaultPKIMounts(fc *config.Config) []string {
	if v, ok := fc.Backend.Settings(vault.Name).(*vault.Settings); ok {
		return v.PKIMounts
	}
	return nil
}

// OpenSigning opens the configured signing source over store (any source a
// backend package registered with the signing package). The caller closes it.
func OpenSigning(ctx context.Context, store backends.KeyStore, fc *config.Config) (signing.Manager, error) {
	return openSigning(ctx, store, SigningOptions(fc))
}

// openSigning opens the signing source of o.
func openSigning(ctx context.Context, store backends.KeyStore, o signing.Options) (signing.Manager, error) {
	m, err := signing.Open(ctx, store, o)
	if err != nil {
		return nil, signingError(err)
	}
	return m, nil
}

// SigningOptions are the signing package's options for fc (with its defaults
// as broker.Config fills them).
func SigningOptions(fc *config.Config) signing.Options {
	cfg := broker.Config{SigningAlg: fc.Tokens.SigningAlg, JWKSMaxAge: time.Duration(fc.Keys.JWKSMaxAge), MaxTokenLifetime: time.Duration(fc.Tokens.MaxLifetime),
		KeyRefresh: time.Duration(fc.Keys.Refresh)}
	cfg.Validate() // fills the defaults; settings reported any error
	o := signing.Options{Source: fc.Signing.Type, Alg: cfg.SigningAlg, PublishDelay: cfg.JWKSMaxAge,
		MaxLifetime: cfg.MaxTokenLifetime, Mount: fc.Signing.Transit.Mount, Key: fc.Signing.Transit.Key}
	if fc.Signing.Type == awskms.SigningSource {
		k := fc.Signing.AWSKMS
		o.Settings = awskms.Settings{Key: k.Key, Keys: k.Keys, Region: k.Region, Endpoint: k.Endpoint, Concurrency: k.Concurrency,
			MaxQueue: k.MaxQueue, QueueWait: time.Duration(k.QueueWait), Timeout: time.Duration(k.Timeout),
			RefreshLag: cfg.KeyRefresh}
	}
	return o
}

// signingError names the key of a signing error.
func signingError(err error) error {
	if errors.Is(err, signing.ErrUnknownSource) {
		return config.Errorf("signing.type", "%w", err)
	}
	return fmt.Errorf("signing: %w", err)
}
