package config

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Defaults, each written once. Zero in a Config means "not set": SetDefaults
// fills these in.
const (
	DefaultListen         = "127.0.0.1:8443"
	DefaultReloadInterval = 10 * time.Second
	DefaultRedisPrefix    = "tokenbroker:"
	// DefaultDPoPNonceLifetime is dpop.nonce_lifetime's default.
	DefaultDPoPNonceLifetime = 5 * time.Minute
)

// Default token buckets of rate_limits (issuance_per_client: off).
var (
	DefaultFailedPerClient  = Rate{PerSecond: 0.5, Burst: 10}
	DefaultFailedPerAddress = Rate{PerSecond: 1, Burst: 30}
	DefaultRegistrations    = Rate{PerSecond: 1, Burst: 20}
)

// SetDefaults fills the keys left unset with their defaults. It is
// idempotent and touches nothing outside c.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Backend.Type == "" {
		c.Backend.Type = DefaultBackend
	}
	if c.TLS.ReloadInterval == 0 {
		c.TLS.ReloadInterval = Duration(DefaultReloadInterval)
	}
	if c.MTLS.Listen != "" && c.MTLS.BaseURL == "" {
		c.MTLS.BaseURL = "https://" + c.MTLS.Listen
	}
	c.Federation.setDefaults()
	if c.DPoP.Nonces && c.DPoP.NonceLifetime == 0 {
		c.DPoP.NonceLifetime = Duration(DefaultDPoPNonceLifetime)
	}
	if c.SharedState.Redis.Prefix == "" {
		c.SharedState.Redis.Prefix = DefaultRedisPrefix
	}
	c.setSPIFFEDefaults()
	for _, r := range []struct {
		v   *Rate
		def Rate
	}{
		{&c.RateLimits.FailedPerClient, DefaultFailedPerClient},
		{&c.RateLimits.FailedPerAddress, DefaultFailedPerAddress},
		{&c.RateLimits.Registrations, DefaultRegistrations},
	} {
		if r.v.PerSecond == 0 && r.v.Burst == 0 {
			*r.v = r.def
		}
	}
}

// Validate fills the defaults and checks every key that can be checked
// without opening, reading or creating anything; each error names its key.
// The checks that need a library (issuer, token lifetimes, the signing
// algorithm, proxy formats, the backend's section) are made by the
// runtime's dry run, which maps the library's field errors to keys with
// KeyOf and BackendKey.
func (c *Config) Validate() error {
	c.SetDefaults()
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, Errorf(key, format, a...)) }
	if _, err := c.LogLevel(); err != nil {
		errs = append(errs, err)
	}
	if f := c.Log.Format; f != "" && f != "json" && f != "text" {
		bad("log.format", "%q is not json or text", f)
	}
	if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
		bad("tls.cert_file, tls.key_file", "required")
	}
	if c.MTLS.Listen != "" {
		if _, _, err := net.SplitHostPort(c.MTLS.Listen); err != nil {
			bad("mtls.listen", "%w", err)
		}
	}
	if _, err := c.TrustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if c.Cache.TTL < 0 || c.Cache.StaleWindow < 0 || c.Cache.MaxEntries < 0 {
		bad("cache", "ttl, stale_window and max_entries must not be negative")
	}
	for _, u := range c.TLS.CRLURLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			bad("tls.crl_urls", "%q is not an http(s) URL", u)
		}
	}
	if c.Audit.ChainKeyFile != "" && c.Audit.File == "" {
		bad("audit.chain_key_file", "needs audit.file")
	}
	switch c.SharedState.Type {
	case "", "memory":
	case "redis":
		if len(c.SharedState.Redis.Addrs) == 0 {
			bad("shared_state.redis.addrs", "at least one host:port")
		}
	default:
		bad("shared_state.type", "%q is not memory or redis", c.SharedState.Type)
	}
	if c.SharedState.MaxJTIsPerClient < 0 {
		bad("shared_state.max_jtis_per_client", "must not be negative")
	}
	if c.SharedState.MaxRevocationsPerClient < 0 {
		bad("shared_state.max_revocations_per_client", "must not be negative")
	}
	errs = append(errs, c.validateRates()...)
	errs = append(errs, c.validateSPIFFE()...)
	errs = append(errs, c.validateFederation()...)
	errs = append(errs, c.validateAWSKMS()...)
	if c.Assertions.MaxLifetime < 0 || time.Duration(c.Assertions.MaxLifetime) > time.Hour {
		bad("assertions.max_lifetime", "must be between 0 and 1h")
	}
	if c.Assertions.MaxSize < 0 || c.Assertions.MaxSize > 64<<10 {
		bad("assertions.max_size", "must be between 0 and 65536")
	}
	errs = append(errs, c.validateDPoP()...)
	return errors.Join(errs...)
}

// LogLevel is log.level as a slog level (info when unset).
func (c *Config) LogLevel() (slog.Level, error) {
	var lvl slog.Level
	if c.Log.Level != "" {
		if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
			return 0, Errorf("log.level", "%q is not debug, info, warn or error", c.Log.Level)
		}
	}
	return lvl, nil
}

// TrustedProxies parses proxy.trusted_proxies: CIDRs or single addresses.
func (c *Config) TrustedProxies() ([]netip.Prefix, error) {
	var trusted []netip.Prefix
	var errs []error
	for _, s := range c.Proxy.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, Errorf("proxy.trusted_proxies", "%q is not a CIDR or address", s))
			continue
		}
		trusted = append(trusted, p)
	}
	return trusted, errors.Join(errs...)
}

// AuditChained reports whether the audit trail is hash-chained
// (audit.chain, implied by audit.chain_key_file).
func (c *Config) AuditChained() bool { return c.Audit.Chain || c.Audit.ChainKeyFile != "" }

// CRLFailClosed is tls.crl_fail_closed (default true).
func (c *Config) CRLFailClosed() bool { return c.TLS.CRLFailClosed == nil || *c.TLS.CRLFailClosed }

// AudienceCompat is assertions.audience_compat (default true).
func (c *Config) AudienceCompat() bool {
	return c.Assertions.AudienceCompat == nil || *c.Assertions.AudienceCompat
}

// validateRates checks each token bucket of rate_limits: both halves or
// neither — one alone would silently disable the limit.
func (c *Config) validateRates() []error {
	var errs []error
	for _, b := range []struct {
		key string
		r   Rate
	}{
		{"rate_limits.failed_per_client", c.RateLimits.FailedPerClient},
		{"rate_limits.failed_per_address", c.RateLimits.FailedPerAddress},
		{"rate_limits.issuance_per_client", c.RateLimits.IssuancePerClient},
		{"rate_limits.registrations", c.RateLimits.Registrations},
	} {
		switch r := b.r; {
		case r.PerSecond < 0 || r.Burst < 0:
			errs = append(errs, Errorf(b.key, "per_second and burst must not be negative"))
		case r.PerSecond > 0 && r.Burst == 0:
			errs = append(errs, Errorf(b.key+".burst", "required when per_second is set"))
		case r.Burst > 0 && r.PerSecond == 0:
			errs = append(errs, Errorf(b.key+".per_second", "required when burst is set"))
		}
	}
	return errs
}

// validateAWSKMS checks signing.aws_kms (only for signing.type aws-kms).
func (c *Config) validateAWSKMS() []error {
	k := c.Signing.AWSKMS
	if c.Signing.Type != "aws-kms" {
		return nil
	}
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, Errorf(key, format, a...)) }
	if k.Key == "" {
		bad("signing.aws_kms.key", "required for signing.type aws-kms (an alias such as alias/tokenbroker, a key id or a key ARN)")
	}
	if c.Tokens.SigningAlg == "EdDSA" {
		bad("tokens.signing_alg", "AWS KMS signs ES256, RS256 or PS256, not EdDSA")
	}
	if strings.HasPrefix(k.Key, "alias/aws/") {
		bad("signing.aws_kms.key", "%q is an AWS managed alias, which cannot name an asymmetric signing key", k.Key)
	}
	if k.Concurrency < 0 || k.Concurrency > 1024 {
		bad("signing.aws_kms.concurrency", "must be between 0 (default 8) and 1024")
	}
	if k.MaxQueue < 0 || k.MaxQueue > 1<<20 {
		bad("signing.aws_kms.max_queue", "must be between 0 (default 1024) and 1048576")
	}
	if k.QueueWait < 0 || time.Duration(k.QueueWait) > time.Minute {
		bad("signing.aws_kms.queue_wait", "must be between 0 (default 1s) and 1m")
	}
	if k.Timeout < 0 || time.Duration(k.Timeout) > time.Minute {
		bad("signing.aws_kms.timeout", "must be between 0 (default 2s) and 1m")
	}
	if e := k.Endpoint; e != "" && !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "http://") {
		bad("signing.aws_kms.endpoint", "%q is not an http(s) URL", e)
	}
	return errs
}

// validateDPoP checks dpop.*: server nonces (RFC 9449 §8) need the key every
// replica shares; proof_max_age is checked by the broker.
func (c *Config) validateDPoP() []error {
	var errs []error
	d := c.DPoP
	switch {
	case d.Nonces && d.NonceKeyFile == "":
		errs = append(errs, Errorf("dpop.nonce_key_file", "required when dpop.nonces is true (a key of at least 32 bytes every replica shares)"))
	case !d.Nonces && d.NonceKeyFile != "":
		errs = append(errs, Errorf("dpop.nonce_key_file", "needs dpop.nonces: true"))
	}
	if l := time.Duration(d.NonceLifetime); l != 0 && (l < 10*time.Second || l > time.Hour) {
		errs = append(errs, Errorf("dpop.nonce_lifetime", "%s is outside [10s, 1h]", l))
	}
	return errs
}
