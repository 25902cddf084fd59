package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awssm"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// runtime is everything serve needs, built from a fileConfig.
type runtime struct {
	fc       *fileConfig
	cfg      broker.Config
	cacheOpt cache.Options
	log      *slog.Logger
	// serverCert is reloaded when its files change.
	serverCert *certs.Reloader[*tls.Certificate]
	// store is the opened backend (start only).
	store backends.Store
	// signing is where the signing keys live (start only).
	signing signing.Manager
	anchors *trustAnchors
	crls    *certs.CRLSet
	// proc holds what outlives a reload (shared state, limiter, audit, metrics).
	proc    *process
	closers []io.Closer
}

// Close releases reloaders and refreshers.
func (rt *runtime) Close() {
	for i := len(rt.closers) - 1; i >= 0; i-- {
		rt.closers[i].Close()
	}
}

// buildRuntime validates fc and turns it into values for the packages. Every
// error names the configuration key to fix. With start set it also loads
// certificates and CRLs, starts their reloaders and opens the process parts
// (shared state, audit writer) for this runtime alone: "config check".
func buildRuntime(ctx context.Context, fc *fileConfig, logOut io.Writer, start bool) (*runtime, error) {
	return buildRuntimeIn(ctx, nil, fc, logOut, start)
}

// buildRuntimeIn is buildRuntime over the process parts of a running serve
// (nil: the runtime opens and owns its own).
func buildRuntimeIn(ctx context.Context, proc *process, fc *fileConfig, logOut io.Writer, start bool) (*runtime, error) {
	var errs []error
	bad := func(err error) { errs = append(errs, err) }
	rt := &runtime{fc: fc, proc: proc}
	log, err := newLogger(fc, logOut)
	if err != nil {
		bad(err)
		log = slog.New(slog.NewJSONHandler(logOut, nil))
	}
	rt.log = log
	if fc.Listen == "" {
		fc.Listen = "127.0.0.1:8443"
	}
	switch fc.Backend.Type {
	case "", "file":
		if fc.Backend.File.Dir == "" {
			bad(errors.New("backend.file.dir: required for the file backend"))
		}
	case "vault":
		v := fc.Backend.Vault
		if v.Address == "" {
			bad(errors.New("backend.vault.address: required for the vault backend"))
		}
		switch v.Auth.Method {
		case "token":
			if v.Auth.TokenFile == "" {
				bad(errors.New("backend.vault.auth.token_file: required for token auth"))
			}
		case "approle":
			if v.Auth.RoleID == "" || v.Auth.SecretIDFile == "" {
				bad(errors.New("backend.vault.auth.role_id, secret_id_file: required for approle auth"))
			}
		case "cert":
			if v.ClientCert == "" || v.ClientKey == "" {
				bad(errors.New("backend.vault.client_cert, client_key: required for cert auth"))
			}
		default:
			bad(fmt.Errorf("backend.vault.auth.method: %q is not token, approle or cert", v.Auth.Method))
		}
		if v.ReadOnly && fc.Registration.InitialAccessTokenFile != "" {
			bad(errors.New("backend.vault.read_only: registration (registration.initial_access_token_file) writes client records"))
		}
	case "awssm":
		if d := fc.Backend.AWSSM.RecoveryDays; d != 0 && (d < 7 || d > 30) {
			bad(errors.New("backend.awssm.recovery_days: 0 (delete at once) or 7 to 30"))
		}
	default:
		bad(fmt.Errorf("backend.type: %q is not supported (want file, vault or awssm)", fc.Backend.Type))
	}
	reload := time.Duration(fc.TLS.ReloadInterval)
	if reload == 0 {
		reload = 10 * time.Second
	}
	rt.cfg = broker.Config{
		Issuer:                fc.Issuer,
		DefaultAudience:       fc.Tokens.DefaultAudience,
		TokenLifetime:         time.Duration(fc.Tokens.Lifetime),
		MaxTokenLifetime:      time.Duration(fc.Tokens.MaxLifetime),
		SigningAlg:            fc.Tokens.SigningAlg,
		ScopesSupported:       fc.ScopesSupported,
		JWKSMaxAge:            time.Duration(fc.Keys.JWKSMaxAge),
		KeyRefresh:            time.Duration(fc.Keys.Refresh),
		SecretRotationGrace:   time.Duration(fc.Secrets.RotationGrace),
		RegistrationResources: fc.Registration.AllowedResources,
		Logger:                log,
		Pprof:                 fc.Admin.Pprof,
		AuditFailClosed:       fc.Audit.FailClosed,
	}
	if p := fc.Registration.InitialAccessTokenFile; p != "" {
		b, err := readLimited(p, 4096)
		tok := strings.TrimSpace(string(b))
		switch {
		case err != nil:
			bad(fmt.Errorf("registration.initial_access_token_file: %w", err))
		case len(tok) < 32:
			bad(errors.New("registration.initial_access_token_file: token shorter than 32 characters"))
		default:
			rt.cfg.InitialAccessTokenHashes = []string{backends.HashSecret(tok)}
		}
	}
	if fc.MTLS.Listen != "" {
		if _, _, err := net.SplitHostPort(fc.MTLS.Listen); err != nil {
			bad(fmt.Errorf("mtls.listen: %w", err))
		}
		rt.cfg.MTLSBaseURL = fc.MTLS.BaseURL
		if rt.cfg.MTLSBaseURL == "" {
			rt.cfg.MTLSBaseURL = "https://" + fc.MTLS.Listen
		}
	}
	if fc.Proxy.Format != "" || len(fc.Proxy.TrustedProxies) > 0 {
		var trusted []netip.Prefix
		for _, s := range fc.Proxy.TrustedProxies {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				if a, aerr := netip.ParseAddr(s); aerr == nil {
					p, err = a.Prefix(a.BitLen())
				}
			}
			if err != nil {
				bad(fmt.Errorf("proxy.trusted_proxies: %q is not a CIDR or address", s))
				continue
			}
			trusted = append(trusted, p)
		}
		px, err := certs.NewProxyExtractor(certs.ProxyConfig{Header: fc.Proxy.Header, Format: fc.Proxy.Format, Trusted: trusted, AddressHeader: fc.Proxy.AddressHeader})
		if err != nil {
			bad(err)
		}
		rt.cfg.Proxy = px
	}
	if err := rt.cfg.Validate(); err != nil {
		bad(err)
	}
	rt.cacheOpt = cache.Options{TTL: time.Duration(fc.Cache.TTL), StaleWindow: time.Duration(fc.Cache.StaleWindow), MaxEntries: fc.Cache.MaxEntries, Logger: log}
	if fc.Cache.TTL < 0 || fc.Cache.StaleWindow < 0 || fc.Cache.MaxEntries < 0 {
		bad(errors.New("cache: ttl, stale_window and max_entries must not be negative"))
	}
	for _, u := range fc.TLS.CRLURLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			bad(fmt.Errorf("tls.crl_urls: %q is not an http(s) URL", u))
		}
	}
	rt.cfg.RateLimits = broker.RateLimits{
		FailedPerClient:   rateOf(fc.RateLimits.FailedPerClient, broker.Rate{PerSecond: 0.5, Burst: 10}),
		FailedPerAddress:  rateOf(fc.RateLimits.FailedPerAddress, broker.Rate{PerSecond: 1, Burst: 30}),
		IssuancePerClient: rateOf(fc.RateLimits.IssuancePerClient, broker.Rate{}),
		Registrations:     rateOf(fc.RateLimits.Registrations, broker.Rate{PerSecond: 1, Burst: 20}),
	}
	for name, r := range map[string]rateConfig{"failed_per_client": fc.RateLimits.FailedPerClient, "failed_per_address": fc.RateLimits.FailedPerAddress, "issuance_per_client": fc.RateLimits.IssuancePerClient, "registrations": fc.RateLimits.Registrations} {
		if err := (broker.Rate{PerSecond: r.PerSecond, Burst: r.Burst}).Validate("rate_limits." + name); err != nil {
			bad(err)
		}
	}
	if fc.Audit.ChainKeyFile != "" && fc.Audit.File == "" {
		bad(errors.New("audit.chain_key_file: needs audit.file"))
	}
	switch fc.SharedState.Type {
	case "", "memory":
	case "redis":
		if len(fc.SharedState.Redis.Addrs) == 0 {
			bad(errors.New("shared_state.redis.addrs: at least one host:port"))
		}
	default:
		bad(fmt.Errorf("shared_state.type: %q is not memory or redis", fc.SharedState.Type))
	}
	if fc.SharedState.MaxJTIsPerClient < 0 {
		bad(errors.New("shared_state.max_jtis_per_client: must not be negative"))
	}
	if fc.SharedState.MaxRevocationsPerClient < 0 {
		bad(errors.New("shared_state.max_revocations_per_client: must not be negative"))
	}
	if fc.Assertions.MaxLifetime < 0 || time.Duration(fc.Assertions.MaxLifetime) > time.Hour {
		bad(errors.New("assertions.max_lifetime: must be between 0 and 1h"))
	}
	if fc.Assertions.MaxSize < 0 || fc.Assertions.MaxSize > 64<<10 {
		bad(errors.New("assertions.max_size: must be between 0 and 65536"))
	}
	if !start {
		return rt, errors.Join(errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	store, err := openStore(ctx, fc, log)
	if err != nil {
		return nil, err
	}
	rt.store = store
	rt.closers = append(rt.closers, store)
	if rt.proc == nil {
		if rt.proc, err = openProcess(ctx, fc); err != nil {
			rt.Close()
			return nil, err
		}
		rt.closers = append(rt.closers, rt.proc)
	}
	if err := rt.load(ctx, reload); err != nil {
		rt.Close()
		return nil, err
	}
	return rt, nil
}

// trustAnchors merges the client CA files and Vault PKI issuers into one
// pool, rebuilt only when either source changes (the pool's identity keys
// the verified-chain cache).
type trustAnchors struct {
	file *certs.Reloader[*x509.CertPool]
	pki  *vault.PKIRoots

	mu           sync.Mutex
	lastF, lastP *x509.CertPool
	merged       *x509.CertPool
}

func (a *trustAnchors) Get() *x509.CertPool {
	var f, p *x509.CertPool
	if a.file != nil {
		f = a.file.Get()
	}
	if a.pki != nil {
		p = a.pki.Get()
	}
	switch {
	case p == nil:
		return f
	case f == nil:
		return p
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if f != a.lastF || p != a.lastP {
		m := f.Clone()
		for _, c := range a.pki.Certificates() {
			m.AddCert(c)
		}
		a.lastF, a.lastP, a.merged = f, p, m
	}
	return a.merged
}

// load reads certificates, CA bundles and CRLs and builds the authentication methods.
func (rt *runtime) load(ctx context.Context, reload time.Duration) error {
	fc := rt.fc
	var errs []error
	if fc.TLS.CertFile == "" || fc.TLS.KeyFile == "" {
		return errors.New("tls.cert_file, tls.key_file: required")
	}
	sc, err := certs.NewReloader([]string{fc.TLS.CertFile, fc.TLS.KeyFile}, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(fc.TLS.CertFile, fc.TLS.KeyFile)
		return &c, err
	}, reload, rt.log)
	if err != nil {
		errs = append(errs, fmt.Errorf("tls.cert_file, tls.key_file: %w", err))
	} else {
		rt.serverCert = sc
		rt.closers = append(rt.closers, sc)
	}
	fetcher := authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: fc.JWKSURI.AllowPrivate, Timeout: time.Duration(fc.JWKSURI.Timeout)})
	keys := authn.NewKeySource(fetcher)
	compat := fc.Assertions.AudienceCompat == nil || *fc.Assertions.AudienceCompat
	// Compatibility audiences: every endpoint a client authenticates at, on both listeners.
	var audiences []string
	for _, base := range []string{fc.Issuer, rt.cfg.MTLSBaseURL} {
		if base == "" {
			continue
		}
		for _, p := range []string{broker.PathToken, broker.PathIntrospect, broker.PathRevoke} {
			audiences = append(audiences, strings.TrimSuffix(base, "/")+p)
		}
	}
	// The shared state (assertion jti values, revoked token ids), the rate
	// limit buckets, the audit writer and the metrics are the process's:
	// every instance built by a reload uses the same ones.
	shared := rt.proc.state
	rt.cfg.State = shared
	rt.cfg.MaxRevocationsPerClient = fc.SharedState.MaxRevocationsPerClient
	rt.cfg.RateLimits.Limiter = rt.proc.limiter
	rt.cfg.Audit = rt.proc.audit
	rt.cfg.Metrics = rt.proc.metrics
	pkjwt, err := authn.PrivateKeyJWT(authn.AssertionConfig{
		Issuer: fc.Issuer, CompatAudiences: audiences, Compat: compat,
		Skew: time.Duration(fc.Assertions.ClockSkew), MaxLifetime: time.Duration(fc.Assertions.MaxLifetime), MaxSize: fc.Assertions.MaxSize,
		Replay: shared, MaxJTIsPerClient: fc.SharedState.MaxJTIsPerClient, Keys: keys,
	})
	if err != nil {
		errs = append(errs, err)
	}
	rt.cfg.Methods = []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost(), pkjwt, authn.SelfSignedTLSClientAuth(keys)}
	anchors := &trustAnchors{}
	rt.anchors = anchors
	if len(fc.TLS.ClientCAFiles) > 0 {
		pool, err := certs.NewReloader(fc.TLS.ClientCAFiles, func() (*x509.CertPool, error) { return loadPool(fc.TLS.ClientCAFiles) }, reload, rt.log)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls.client_ca_files: %w", err))
		} else {
			rt.closers = append(rt.closers, pool)
			anchors.file = pool
		}
	}
	vs, isVault := rt.store.(*vault.Store)
	if mounts := fc.Backend.Vault.PKIMounts; len(mounts) > 0 {
		if !isVault {
			errs = append(errs, errors.New("backend.vault.pki_mounts: needs backend.type vault"))
		} else if pki, err := vs.PKIRoots(ctx, mounts, time.Minute); err != nil {
			errs = append(errs, fmt.Errorf("backend.vault.pki_mounts: %w", err))
		} else {
			rt.closers = append(rt.closers, pki)
			anchors.pki = pki
		}
	}
	if anchors.file != nil || anchors.pki != nil {
		crls, err := certs.NewCRLSet(ctx, fc.TLS.CRLFiles, fc.TLS.CRLURLs, reload, rt.log,
			certs.CRLFailClosed(fc.TLS.CRLFailClosed == nil || *fc.TLS.CRLFailClosed), certs.CRLInherit(rt.proc.crls.Load()))
		if err != nil {
			errs = append(errs, fmt.Errorf("tls.crl_files: %w", err))
		} else {
			rt.closers = append(rt.closers, crls)
			rt.crls = crls
			rt.proc.crls.Store(crls)
			var opts []authn.TLSOption
			if pki := anchors.pki; pki != nil { // intermediates complete paths, never end them; revoked issuers refuse
				opts = append(opts, authn.WithIntermediates(pki.Intermediates), authn.WithDistrusted(pki.Distrusted))
			}
			rt.cfg.Methods = append(rt.cfg.Methods, authn.TLSClientAuth(anchors.Get, crls, opts...))
		}
	} else if len(fc.TLS.CRLFiles)+len(fc.TLS.CRLURLs) > 0 {
		errs = append(errs, errors.New("tls.crl_files, tls.crl_urls: need tls.client_ca_files or backend.vault.pki_mounts"))
	}
	if m, err := openSigning(ctx, rt.store, rt.fc, rt.cfg); err != nil {
		errs = append(errs, err)
	} else {
		rt.closers = append(rt.closers, m)
		rt.signing, rt.cfg.Signing = m, m
	}
	return errors.Join(errs...)
}

func loadPool(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := readLimited(f, 4<<20)
		if err != nil {
			return nil, err
		}
		cs, err := certs.ParseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, c := range cs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// getCertificate serves the current (reloaded) server certificate.
func (rt *runtime) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return rt.serverCert.Get(), nil
}

// openSigning opens the configured signing source over store (any source a
// backend package registered with the signing package).
func openSigning(ctx context.Context, store backends.KeyStore, fc *fileConfig, cfg broker.Config) (signing.Manager, error) {
	m, err := signing.Open(ctx, store, signing.Options{Source: fc.Signing.Type, Alg: cfg.SigningAlg, PublishDelay: cfg.JWKSMaxAge,
		MaxLifetime: cfg.MaxTokenLifetime, Mount: fc.Signing.Transit.Mount, Key: fc.Signing.Transit.Key})
	if errors.Is(err, signing.ErrUnknownSource) {
		return nil, fmt.Errorf("signing.type: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return m, nil
}

// openStore opens the configured backend.
func openStore(ctx context.Context, fc *fileConfig, log *slog.Logger) (backends.Store, error) {
	switch fc.Backend.Type {
	case "", "file":
		return file.New(fc.Backend.File.Dir)
	case "vault":
		v := fc.Backend.Vault
		var auth vault.Auth
		switch v.Auth.Method {
		case "token":
			b, err := readLimited(v.Auth.TokenFile, 4096)
			if err != nil {
				return nil, fmt.Errorf("backend.vault.auth.token_file: %w", err)
			}
			auth = vault.Token(strings.TrimSpace(string(b)))
		case "approle":
			b, err := readLimited(v.Auth.SecretIDFile, 4096)
			if err != nil {
				return nil, fmt.Errorf("backend.vault.auth.secret_id_file: %w", err)
			}
			if auth, err = vault.AppRole(v.Auth.RoleID, strings.TrimSpace(string(b)), v.Auth.Mount); err != nil {
				return nil, err
			}
		case "cert":
			auth = vault.Cert(v.Auth.CertRole, v.Auth.Mount)
		}
		return vault.New(ctx, vault.Config{Address: v.Address, Mount: v.Mount, Prefix: v.Prefix, Auth: auth,
			CACert: v.CACert, ClientCert: v.ClientCert, ClientKey: v.ClientKey, Timeout: time.Duration(v.Timeout), ReadOnly: v.ReadOnly})
	case "awssm":
		a := fc.Backend.AWSSM
		return awssm.New(ctx, awssm.Config{Region: a.Region, Endpoint: a.Endpoint, Prefix: a.Prefix, KMSKeyID: a.KMSKeyID,
			PreviousGrace: time.Duration(a.PreviousGrace), RecoveryDays: int64(a.RecoveryDays), Timeout: time.Duration(a.Timeout)})
	}
	return nil, fmt.Errorf("backend.type: %q is not supported", fc.Backend.Type)
}

func newLogger(fc *fileConfig, out io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if fc.Log.Level != "" {
		if err := lvl.UnmarshalText([]byte(fc.Log.Level)); err != nil {
			return nil, fmt.Errorf("log.level: %q is not debug, info, warn or error", fc.Log.Level)
		}
	}
	opt := &slog.HandlerOptions{Level: lvl}
	switch fc.Log.Format {
	case "", "json":
		return slog.New(slog.NewJSONHandler(out, opt)), nil
	case "text":
		return slog.New(slog.NewTextHandler(out, opt)), nil
	}
	return nil, fmt.Errorf("log.format: %q is not json or text", fc.Log.Format)
}

// supportedMethodNames are the client authentication methods this build can
// register; the CLI validates against them.
var supportedMethodNames = []string{backends.AuthClientSecretBasic, backends.AuthClientSecretPost, backends.AuthPrivateKeyJWT, backends.AuthTLSClient, backends.AuthSelfSignedTLSClient}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// rateOf returns the configured rate, or def when the key is absent.
func rateOf(c rateConfig, def broker.Rate) broker.Rate {
	if c.PerSecond == 0 && c.Burst == 0 {
		return def
	}
	return broker.Rate{PerSecond: c.PerSecond, Burst: c.Burst}
}

// reloadNow re-reads certificates, CA bundles and CRLs at once (SIGHUP);
// they are also re-read on their own every tls.reload_interval.
func (rt *runtime) reloadNow(ctx context.Context) {
	if rt.serverCert != nil {
		rt.serverCert.Check()
	}
	if rt.anchors != nil && rt.anchors.file != nil {
		rt.anchors.file.Check()
	}
	if rt.crls != nil {
		if err := rt.crls.Refresh(ctx); err != nil {
			rt.log.Warn("CRL reload failed", "err", err)
		}
	}
	rt.log.Info("reloaded certificates, CA bundles and CRLs")
}
