package broker

import (
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/policy"
	"github.com/tokenbroker/tokenbroker/certs"
)

// DefaultMaxRevocationsPerClient is the default of Config.MaxRevocationsPerClient.
const DefaultMaxRevocationsPerClient = 10_000

// Config is what the broker needs to run. cmd/tokenbroker builds it from the
// YAML file, the environment and flags; this package never reads either.
type Config struct {
	// Issuer is the RFC 8414 issuer identifier: an https URL without query or fragment.
	Issuer string
	// DefaultAudience is the token audience when neither the request nor the client names one.
	DefaultAudience string
	// TokenLifetime is the default access-token lifetime (default 5m).
	TokenLifetime time.Duration
	// MaxTokenLifetime caps per-client lifetimes (default and hard maximum 15m).
	MaxTokenLifetime time.Duration
	// SigningAlg is used for new signing keys: ES256 (default), EdDSA, RS256, PS256.
	SigningAlg string
	// ScopesSupported, when set, is advertised and bounds what clients may register.
	ScopesSupported []string
	// InitialAccessTokenHashes guard RFC 7591 registration (backends.HashSecret form).
	// Registration is disabled when empty.
	InitialAccessTokenHashes []string
	// RegistrationResources bounds the allowed_resources and default_audience
	// a client may give itself through RFC 7591/7592 registration: audiences
	// are the operator's to grant. Empty: registration cannot set them (the
	// configured default audience applies). The CLI is not bound by it.
	RegistrationResources []string
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// JWKSMaxAge is the JWKS Cache-Control max-age (default 5m). A next key
	// must be published at least this long before it is promoted.
	JWKSMaxAge time.Duration
	// KeyRefresh is how often signing keys are re-read from the store (default 30s).
	KeyRefresh time.Duration
	// SecretRotationGrace is how long the old secret stays valid after a rotation (default 24h).
	SecretRotationGrace time.Duration
	// Methods are the client authentication methods offered (default: all this build supports).
	Methods []authn.Method
	// WrapClients, when set, wraps the client cache into the client source the
	// methods' identities are looked up in (a SPIFFE ID's registered client:
	// authn/spiffe.Clients).
	WrapClients func(authn.ClientSource) authn.ClientSource
	// ReservedSANURI, when set, reports a tls_client_auth_san_uri only the
	// operator may register (a workload identity a client template covers):
	// registry.Config.ReservedSANURI.
	ReservedSANURI func(uri string) bool
	// SPIFFEBundles, when set, are the SPIFFE trust domains whose bundle age
	// the metrics report (tokenbroker_spiffe_bundle_age_seconds).
	SPIFFEBundles interface{ Status() []spiffe.Status }
	// Logger receives structured logs; never a secret or a token (default slog.Default()).
	Logger *slog.Logger
	// MTLSBaseURL, when set, is the base URL of a listener that requires a
	// client certificate; advertised as mtls_endpoint_aliases (RFC 8705 §5).
	MTLSBaseURL string
	// Proxy, when set, honours a client certificate forwarded in a header by
	// a trusted TLS-terminating proxy. Without it every such header is refused.
	Proxy *certs.ProxyExtractor
	// Signing, when set, provides the signing keys (e.g. Vault Transit);
	// default: signing.NewLocal over the backend's key set.
	Signing signing.Source
	// RateLimits bound failed authentications and, optionally, issuance.
	RateLimits RateLimits
	// Audit receives one event per issuance and per refused token request
	// (nil: none). One audit.Trail per process: it holds the chain's last hash.
	Audit *audit.Trail
	// AuditFailClosed refuses a token request (503 temporarily_unavailable,
	// no token) when its audit event cannot be written. Default: the token is
	// issued, and the failure logged and counted.
	AuditFailClosed bool
	// Metrics receives the Prometheus series (default: a new set for this
	// Server). Pass one NewMetrics to every Server of a process so counters
	// survive a configuration reload.
	Metrics *Metrics
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin handler
	// (off by default: profiles reveal code paths and timings, and a CPU
	// profile costs the process while it runs).
	Pprof bool
	// State is the shared state for revoked token ids (default: in memory,
	// one node). Pass the same store the private_key_jwt replay cache uses.
	State state.Store
	// MaxRevocationsPerClient bounds the revoked token ids one client may
	// hold in State until they expire (default 10,000): a client that fills
	// its share gets 503 for its next revocation; other clients are unaffected.
	MaxRevocationsPerClient int
	// DPoP tunes DPoP proofs at the token endpoint (RFC 9449).
	DPoP DPoPConfig
}

func (c *Config) fill() {
	if c.TokenLifetime == 0 {
		c.TokenLifetime = policy.DefaultLifetime
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = policy.HardMaxLifetime
	}
	if c.SigningAlg == "" {
		c.SigningAlg = "ES256"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.MaxRevocationsPerClient == 0 {
		c.MaxRevocationsPerClient = DefaultMaxRevocationsPerClient
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = 5 * time.Minute
	}
	if c.KeyRefresh == 0 {
		c.KeyRefresh = 30 * time.Second
	}
	if c.SecretRotationGrace == 0 {
		c.SecretRotationGrace = 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RateLimits.Limiter == nil {
		c.RateLimits.Limiter = state.NewMemoryLimiter(100_000)
	}
	c.DPoP.fill()
	if len(c.Methods) == 0 {
		c.Methods = []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost()}
	}
}

// Validate fills defaults and checks every field. Each error is a
// *FieldError naming the field (TokenLifetime, RateLimits.FailedPerClient.Burst);
// the program that reads a configuration file maps it to its key.
func (c *Config) Validate() error {
	c.fill()
	var errs []error
	if err := ValidateIssuer(c.Issuer); err != nil {
		errs = append(errs, &FieldError{Field: "Issuer", Err: err})
	}
	if c.DefaultAudience != "" {
		if err := policy.ValidateResource(c.DefaultAudience); err != nil {
			errs = append(errs, &FieldError{Field: "DefaultAudience", Err: err})
		}
	}
	if c.TokenLifetime < 10*time.Second || c.TokenLifetime > c.MaxTokenLifetime {
		errs = append(errs, fieldf("TokenLifetime", "%s is outside [10s, the maximum lifetime %s]", c.TokenLifetime, c.MaxTokenLifetime))
	}
	if c.MaxTokenLifetime > policy.HardMaxLifetime || c.MaxTokenLifetime < 10*time.Second {
		errs = append(errs, fieldf("MaxTokenLifetime", "%s is outside [10s, %s]", c.MaxTokenLifetime, policy.HardMaxLifetime))
	}
	if algs := signing.Algs(); !slices.Contains(algs, c.SigningAlg) {
		errs = append(errs, fieldf("SigningAlg", "%q is not one of %v", c.SigningAlg, algs))
	}
	for _, s := range c.ScopesSupported {
		if !policy.ValidScopeToken(s) {
			errs = append(errs, fieldf("ScopesSupported", "%q is not a valid scope token (RFC 6749 §3.3)", s))
		}
	}
	for _, r := range c.RegistrationResources {
		if err := policy.ValidateResource(r); err != nil {
			errs = append(errs, fieldf("RegistrationResources", "%q: %w", r, err))
		}
	}
	if c.MTLSBaseURL != "" {
		if err := ValidateIssuer(c.MTLSBaseURL); err != nil {
			errs = append(errs, &FieldError{Field: "MTLSBaseURL", Err: err})
		}
	}
	errs = append(errs, c.RateLimits.validate()...)
	errs = append(errs, c.DPoP.validate()...)
	if c.MaxRevocationsPerClient < 0 {
		errs = append(errs, fieldf("MaxRevocationsPerClient", "%d is negative", c.MaxRevocationsPerClient))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<20 {
		errs = append(errs, fieldf("MaxBodyBytes", "%d is outside [1024, 1048576]", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// FieldError is a Config field that does not validate. Field is the Go
// name of the field, dotted below the top (RateLimits.FailedPerClient.Burst).
// It is the one field-error type of the libraries above certs (a backend's
// settings report theirs with it too).
type FieldError = backends.FieldError

var fieldf = backends.FieldErrorf

// fieldErr places err (a *FieldError of a nested value, or any error)
// under field.
func fieldErr(field string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		if fe.Field != "" {
			field += "." + fe.Field
		}
		return &FieldError{Field: field, Err: fe.Err}
	}
	return &FieldError{Field: field, Err: err}
}

// ValidateIssuer applies RFC 8414 §2: https, no query, no fragment.
func ValidateIssuer(iss string) error {
	u, err := url.Parse(iss)
	switch {
	case iss == "":
		return errors.New("required")
	case err != nil:
		return err
	case u.Scheme != "https":
		return errors.New("must use the https scheme (RFC 8414 §2)")
	case u.Host == "":
		return errors.New("has no host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("must not have a query, fragment or user info (RFC 8414 §2)")
	}
	return nil
}
