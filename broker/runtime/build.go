package runtime

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// wiring is one configuration turned into values for the packages: what a
// reload swaps. The dry run (Check) builds it without opening anything;
// open adds the backend, the certificates and the authentication methods.
type wiring struct {
	fc       *config.Config
	cfg      broker.Config
	cacheOpt cache.Options
	log      *slog.Logger
	// serverCert is reloaded when its files change.
	serverCert *certs.Reloader[*tls.Certificate]
	// store is the opened backend.
	store backends.Store
	// signing is where the signing keys live.
	signing signing.Manager
	anchors *trustAnchors
	crls    *certs.CRLSet
	// spiffe holds the SPIFFE trust domains' bundles (nil: none configured).
	spiffe *spiffe.TrustDomains
	// proc holds what outlives a reload (shared state, limiter, audit, metrics).
	proc    *process
	closers []io.Closer
}

// Close releases reloaders and refreshers.
func (w *wiring) Close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i].Close()
	}
	w.closers = nil
}

// settings validates fc (filling its defaults) and maps it to the
// packages' options. It opens, creates and connects to nothing; it reads
// only the registration token file. Every error names its key.
func settings(fc *config.Config, logOut io.Writer) (*wiring, error) {
	var errs []error
	bad := func(err error) { errs = append(errs, err) }
	cerr := fc.Validate()
	if cerr != nil {
		bad(cerr)
	}
	if err := validateBackend(fc); err != nil {
		bad(err)
	}
	if pki := vaultPKIMounts(fc); len(pki) > 0 && fc.Backend.Type != vault.Name {
		bad(config.Errorf("backend.vault.pki_mounts", "needs backend.type vault"))
	}
	if len(fc.TLS.ClientCAFiles) == 0 && len(vaultPKIMounts(fc)) == 0 && len(fc.TLS.CRLFiles)+len(fc.TLS.CRLURLs) > 0 {
		bad(config.Errorf("tls.crl_files, tls.crl_urls", "need tls.client_ca_files or backend.vault.pki_mounts"))
	}
	w := &wiring{fc: fc}
	log, err := newLogger(fc, logOut)
	if err != nil {
		log = slog.New(slog.NewJSONHandler(logOut, nil)) // Validate named it
	}
	w.log = log
	w.cfg = broker.Config{
		Issuer:                  fc.Issuer,
		DefaultAudience:         fc.Tokens.DefaultAudience,
		TokenLifetime:           time.Duration(fc.Tokens.Lifetime),
		MaxTokenLifetime:        time.Duration(fc.Tokens.MaxLifetime),
		SigningAlg:              fc.Tokens.SigningAlg,
		ScopesSupported:         fc.ScopesSupported,
		JWKSMaxAge:              time.Duration(fc.Keys.JWKSMaxAge),
		KeyRefresh:              time.Duration(fc.Keys.Refresh),
		SecretRotationGrace:     time.Duration(fc.Secrets.RotationGrace),
		RegistrationResources:   fc.Registration.AllowedResources,
		Logger:                  log,
		Pprof:                   fc.Admin.Pprof,
		AuditFailClosed:         fc.Audit.FailClosed,
		MTLSBaseURL:             fc.MTLS.BaseURL,
		MaxRevocationsPerClient: fc.SharedState.MaxRevocationsPerClient,
		DPoP:                    broker.DPoPConfig{MaxAge: time.Duration(fc.DPoP.ProofMaxAge), MaxJTIsPerClient: fc.SharedState.MaxJTIsPerClient},
		RateLimits: broker.RateLimits{
			FailedPerClient:   rate(fc.RateLimits.FailedPerClient),
			FailedPerAddress:  rate(fc.RateLimits.FailedPerAddress),
			IssuancePerClient: rate(fc.RateLimits.IssuancePerClient),
			Registrations:     rate(fc.RateLimits.Registrations),
		},
	}
	if p := fc.Registration.InitialAccessTokenFile; p != "" {
		b, err := config.ReadLimited(p, 4096)
		tok := strings.TrimSpace(string(b))
		switch {
		case err != nil:
			bad(config.Errorf("registration.initial_access_token_file", "%w", err))
		case len(tok) < 32:
			bad(config.Errorf("registration.initial_access_token_file", "token shorter than 32 characters"))
		case !isBearerToken(tok):
			// Clients send it as "Authorization: Bearer <token>" (RFC 7591 §3).
			bad(config.Errorf("registration.initial_access_token_file", "not an RFC 6750 §2.1 b64token (letters, digits, - . _ ~ + / and trailing =), or longer than 1024"))
		default:
			w.cfg.InitialAccessTokenHashes = []string{backends.HashSecret(tok)}
		}
	}
	if fc.Proxy.Format != "" || len(fc.Proxy.TrustedProxies) > 0 {
		trusted, _ := fc.TrustedProxies() // Validate named a bad one
		px, err := certs.NewProxyExtractor(certs.ProxyConfig{Header: fc.Proxy.Header, Format: fc.Proxy.Format, Trusted: trusted, AddressHeader: fc.Proxy.AddressHeader})
		if err != nil {
			bad(keyed(err))
		}
		w.cfg.Proxy = px
	}
	// The broker checks what config cannot (the issuer, lifetimes, the
	// algorithm); what both check is reported once, by config.
	seen := config.Keys(cerr)
	for _, err := range unjoin(w.cfg.Validate()) {
		if err = keyed(err); keyOfErr(err) == "" || !seen[keyOfErr(err)] {
			bad(err)
		}
	}
	if _, err := federationTemplates(fc); err != nil {
		bad(err)
	}
	w.cacheOpt = cache.Options{TTL: time.Duration(fc.Cache.TTL), StaleWindow: time.Duration(fc.Cache.StaleWindow), MaxEntries: fc.Cache.MaxEntries, Logger: log}
	return w, errors.Join(errs...)
}

// isBearerToken: tok can be sent as a Bearer token, as the registration
// endpoint reads one.
func isBearerToken(tok string) bool {
	_, t, ok := accesstoken.ParseAuthorization("Bearer " + tok)
	return ok && t == tok && len(tok) <= 1024
}

func rate(r config.Rate) broker.Rate { return broker.Rate{PerSecond: r.PerSecond, Burst: r.Burst} }

// Validate checks every key of fc (filling its defaults) without reading
// or opening anything but the registration token file: what a command that
// works on the backend checks before it opens it.
func Validate(fc *config.Config) error {
	_, err := settings(fc, io.Discard)
	return err
}

// Check is "config check": a dry run of fc. It validates every key and reads
// the files the configuration names (certificates, CA bundles, secrets and
// keys), but connects to nothing and creates nothing — no backend
// directory, no signing key, no audit file. Each error names its key.
func Check(fc *config.Config) error {
	_, err := settings(fc, io.Discard)
	var more []error
	if fc.TLS.CertFile != "" && fc.TLS.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(fc.TLS.CertFile, fc.TLS.KeyFile); err != nil {
			more = append(more, config.Errorf("tls.cert_file, tls.key_file", "%w", err))
		}
	}
	if len(fc.TLS.ClientCAFiles) > 0 {
		if _, err := loadPool(fc.TLS.ClientCAFiles); err != nil {
			more = append(more, config.Errorf("tls.client_ca_files", "%w", err))
		}
	}
	if p := fc.Audit.ChainKeyFile; p != "" {
		if _, err := ReadChainKey(p); err != nil {
			more = append(more, config.Errorf("audit.chain_key_file", "%w", err))
		}
	}
	if p := fc.SharedState.Redis.PasswordFile; p != "" && fc.SharedState.Type == "redis" {
		if _, err := config.ReadLimited(p, 4096); err != nil {
			more = append(more, config.Errorf("shared_state.redis.password_file", "%w", err))
		}
	}
	if _, err := dpopNonces(fc); err != nil {
		more = append(more, err)
	}
	if err := checkBackend(fc); err != nil {
		more = append(more, err)
	}
	more = append(more, checkSPIFFE(fc)...)
	// The algorithm is tokens.signing_alg's, which settings checked.
	if err := signing.Check(signing.Options{Source: fc.Signing.Type}); err != nil {
		more = append(more, signingError(err))
	}
	seen, errs := config.Keys(err), []error{err}
	for _, e := range more {
		if k := keyOfErr(e); k == "" || !seen[k] {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// open builds the wiring for fc over the process parts proc: the backend,
// the server certificate, the client CA bundles and CRLs, the
// authentication methods and the signing manager.
func open(ctx context.Context, proc *process, fc *config.Config, logOut io.Writer) (*wiring, error) {
	w, err := settings(fc, logOut)
	if err != nil {
		return nil, err
	}
	w.proc = proc
	store, release, err := proc.store(ctx, fc, w.log)
	if err != nil {
		return nil, err
	}
	w.store = store
	w.closers = append(w.closers, release)
	if err := w.load(ctx); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
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

// load reads certificates, CA bundles and CRLs and builds the
// authentication methods and the signing manager.
func (w *wiring) load(ctx context.Context) error {
	fc := w.fc
	reload := time.Duration(fc.TLS.ReloadInterval)
	var errs []error
	sc, err := certs.NewReloader([]string{fc.TLS.CertFile, fc.TLS.KeyFile}, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(fc.TLS.CertFile, fc.TLS.KeyFile)
		return &c, err
	}, reload, w.log)
	if err != nil {
		errs = append(errs, config.Errorf("tls.cert_file, tls.key_file", "%w", err))
	} else {
		w.serverCert = sc
		w.closers = append(w.closers, sc)
	}
	// The shared state (assertion jti values, revoked token ids), the rate
	// limit buckets, the audit writer and the metrics are the process's:
	// every instance built by a reload uses the same ones.
	w.cfg.State = w.proc.state
	w.cfg.RateLimits.Limiter = w.proc.limiter
	w.cfg.Audit = w.proc.audit
	w.cfg.Metrics = w.proc.metrics
	keys := authn.NewKeySource(authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: fc.JWKSURI.AllowPrivate, Timeout: time.Duration(fc.JWKSURI.Timeout)}))
	pkjwt, err := authn.PrivateKeyJWT(authn.AssertionConfig{
		Issuer: fc.Issuer, CompatAudiences: w.compatAudiences(), Compat: fc.AudienceCompat(),
		Skew: time.Duration(fc.Assertions.ClockSkew), MaxLifetime: time.Duration(fc.Assertions.MaxLifetime), MaxSize: fc.Assertions.MaxSize,
		Replay: w.proc.state, MaxJTIsPerClient: fc.SharedState.MaxJTIsPerClient, Keys: keys,
	})
	if err != nil {
		errs = append(errs, err)
	}
	w.cfg.Methods = []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost(), pkjwt, authn.SelfSignedTLSClientAuth(keys)}
	if w.cfg.DPoP.Nonces, err = dpopNonces(fc); err != nil {
		errs = append(errs, err)
	}
	if err := w.loadClientCAs(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := w.loadSPIFFE(ctx); err != nil {
		errs = append(errs, err)
	}
	// A remote signer reports to the process's metrics (they outlive a reload).
	so := SigningOptions(fc)
	so.Observer, so.Logger = w.proc.metrics, w.log
	w.proc.shareKMSLimiter(&so, w.log)
	if m, err := openSigning(ctx, w.store, so); err != nil {
		errs = append(errs, err)
	} else {
		w.closers = append(w.closers, m)
		w.signing, w.cfg.Signing = m, m
	}
	if err := w.loadFederation(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// dpopNonces is the DPoP nonce source of dpop.nonces (nil when off): stateless
// nonces under dpop.nonce_key_file, so that every replica reading the same
// key accepts the nonces any of them issued (RFC 9449 §8). A reload re-reads
// the key: after a rotation, clients holding an old nonce get use_dpop_nonce
// once and retry with a new one.
func dpopNonces(fc *config.Config) (dpop.NonceSource, error) {
	if !fc.DPoP.Nonces || fc.DPoP.NonceKeyFile == "" {
		return nil, nil
	}
	b, err := config.ReadLimited(fc.DPoP.NonceKeyFile, 4096)
	if err != nil {
		return nil, config.Errorf("dpop.nonce_key_file", "%w", err)
	}
	n, err := dpop.NewNonces(bytes.TrimSpace(b), time.Duration(fc.DPoP.NonceLifetime))
	if err != nil {
		return nil, config.Errorf("dpop.nonce_key_file", "%w (e.g. openssl rand -hex 32 > FILE)", err)
	}
	return n, nil
}

// compatAudiences are every endpoint a client authenticates at, on both
// listeners: the assertion audiences accepted in compatibility mode.
func (w *wiring) compatAudiences() []string {
	var audiences []string
	for _, base := range []string{w.fc.Issuer, w.cfg.MTLSBaseURL} {
		if base == "" {
			continue
		}
		for _, p := range []string{broker.PathToken, broker.PathIntrospect, broker.PathRevoke} {
			audiences = append(audiences, strings.TrimSuffix(base, "/")+p)
		}
	}
	return audiences
}

// loadClientCAs builds the trust anchors of tls_client_auth (CA files,
// Vault PKI mounts) and their CRLs, and adds the method when there are any.
func (w *wiring) loadClientCAs(ctx context.Context) error {
	fc := w.fc
	reload := time.Duration(fc.TLS.ReloadInterval)
	var errs []error
	anchors := &trustAnchors{}
	w.anchors = anchors
	if len(fc.TLS.ClientCAFiles) > 0 {
		pool, err := certs.NewReloader(fc.TLS.ClientCAFiles, func() (*x509.CertPool, error) { return loadPool(fc.TLS.ClientCAFiles) }, reload, w.log)
		if err != nil {
			errs = append(errs, config.Errorf("tls.client_ca_files", "%w", err))
		} else {
			w.closers = append(w.closers, pool)
			anchors.file = pool
		}
	}
	if mounts := vaultPKIMounts(fc); len(mounts) > 0 {
		if vs, ok := w.store.(*vault.Store); !ok {
			errs = append(errs, config.Errorf("backend.vault.pki_mounts", "needs backend.type vault"))
		} else if pki, err := vs.PKIRoots(ctx, mounts, time.Minute); err != nil {
			errs = append(errs, config.Errorf("backend.vault.pki_mounts", "%w", err))
		} else {
			w.closers = append(w.closers, pki)
			anchors.pki = pki
		}
	}
	if anchors.file == nil && anchors.pki == nil {
		return errors.Join(errs...)
	}
	crls, err := certs.NewCRLSet(ctx, fc.TLS.CRLFiles, fc.TLS.CRLURLs, reload, w.log,
		certs.CRLFailClosed(fc.CRLFailClosed()), certs.CRLInherit(w.proc.crls.Load()))
	if err != nil {
		return errors.Join(append(errs, config.Errorf("tls.crl_files", "%w", err))...)
	}
	w.closers = append(w.closers, crls)
	w.crls = crls
	w.proc.crls.Store(crls)
	var opts []authn.TLSOption
	if pki := anchors.pki; pki != nil { // intermediates complete paths, never end them; revoked issuers refuse
		opts = append(opts, authn.WithIntermediates(pki.Intermediates), authn.WithDistrusted(pki.Distrusted))
	}
	w.cfg.Methods = append(w.cfg.Methods, authn.TLSClientAuth(anchors.Get, crls, opts...))
	return errors.Join(errs...)
}

func loadPool(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := config.ReadLimited(f, 4<<20)
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
func (w *wiring) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return w.serverCert.Get(), nil
}

func newLogger(fc *config.Config, out io.Writer) (*slog.Logger, error) {
	lvl, err := fc.LogLevel()
	if err != nil {
		return nil, err
	}
	opt := &slog.HandlerOptions{Level: lvl}
	if fc.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(out, opt)), nil
	}
	return slog.New(slog.NewJSONHandler(out, opt)), nil
}

// reloadNow re-reads certificates, CA bundles and CRLs at once (SIGHUP);
// they are also re-read on their own every tls.reload_interval.
func (w *wiring) reloadNow(ctx context.Context) {
	if w.serverCert != nil {
		w.serverCert.Check()
	}
	if w.anchors != nil && w.anchors.file != nil {
		w.anchors.file.Check()
	}
	if w.crls != nil {
		if err := w.crls.Refresh(ctx); err != nil {
			w.log.Warn("CRL reload failed", "err", err)
		}
	}
	w.log.Info("reloaded certificates, CA bundles and CRLs")
}

// keyed maps a library's field error to the configuration key that sets
// the field (a *config.Error); other errors pass unchanged.
func keyed(err error) error {
	var bfe *broker.FieldError
	var cfe *certs.FieldError
	switch {
	case errors.As(err, &bfe):
		return config.Keyed("broker.Config", bfe.Field, bfe.Err)
	case errors.As(err, &cfe):
		return config.Keyed("certs.ProxyConfig", cfe.Field, cfe.Err)
	}
	return err
}

// keyOfErr is the key a *config.Error names ("" for another error).
func keyOfErr(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce.Key
	}
	return ""
}

// unjoin lists the errors of a joined error (err alone otherwise; none for nil).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
