package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/broker"
)

// runtime is everything serve needs, built from a fileConfig.
type runtime struct {
	fc       *fileConfig
	cfg      broker.Config
	cacheOpt cache.Options
	tlsCert  tls.Certificate
	log      *slog.Logger
}

// buildRuntime validates fc and turns it into values for the packages. Every
// error names the configuration key to fix.
func buildRuntime(fc *fileConfig, logOut io.Writer, needTLS bool) (*runtime, error) {
	var errs []error
	rt := &runtime{fc: fc}
	log, err := newLogger(fc, logOut)
	if err != nil {
		errs = append(errs, err)
		log = slog.New(slog.NewJSONHandler(logOut, nil))
	}
	rt.log = log
	if fc.Listen == "" {
		fc.Listen = "127.0.0.1:8443"
	}
	switch fc.Backend.Type {
	case "", "file":
		if fc.Backend.File.Dir == "" {
			errs = append(errs, errors.New("backend.file.dir: required for the file backend"))
		}
	default:
		errs = append(errs, fmt.Errorf("backend.type: %q is not supported (want file)", fc.Backend.Type))
	}
	if needTLS {
		if fc.TLS.CertFile == "" || fc.TLS.KeyFile == "" {
			errs = append(errs, errors.New("tls.cert_file, tls.key_file: required"))
		} else if rt.tlsCert, err = tls.LoadX509KeyPair(fc.TLS.CertFile, fc.TLS.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.cert_file, tls.key_file: %w", err))
		}
	}
	rt.cfg = broker.Config{
		Issuer:              fc.Issuer,
		DefaultAudience:     fc.Tokens.DefaultAudience,
		TokenLifetime:       time.Duration(fc.Tokens.Lifetime),
		MaxTokenLifetime:    time.Duration(fc.Tokens.MaxLifetime),
		SigningAlg:          fc.Tokens.SigningAlg,
		ScopesSupported:     fc.ScopesSupported,
		JWKSMaxAge:          time.Duration(fc.Keys.JWKSMaxAge),
		KeyRefresh:          time.Duration(fc.Keys.Refresh),
		SecretRotationGrace: time.Duration(fc.Secrets.RotationGrace),
		Logger:              log,
		Methods:             defaultMethods(),
	}
	if p := fc.Registration.InitialAccessTokenFile; p != "" {
		b, err := readLimited(p, 4096)
		tok := strings.TrimSpace(string(b))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("registration.initial_access_token_file: %w", err))
		case len(tok) < 32:
			errs = append(errs, errors.New("registration.initial_access_token_file: token shorter than 32 characters"))
		default:
			rt.cfg.InitialAccessTokenHashes = []string{backends.HashSecret(tok)}
		}
	}
	if err := rt.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	rt.cacheOpt = cache.Options{TTL: time.Duration(fc.Cache.TTL), StaleWindow: time.Duration(fc.Cache.StaleWindow), MaxEntries: fc.Cache.MaxEntries, Logger: log}
	if fc.Cache.TTL < 0 || fc.Cache.StaleWindow < 0 || fc.Cache.MaxEntries < 0 {
		errs = append(errs, errors.New("cache: ttl, stale_window and max_entries must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// openStore opens the configured backend.
func openStore(fc *fileConfig) (backends.Store, error) {
	switch fc.Backend.Type {
	case "", "file":
		return file.New(fc.Backend.File.Dir)
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
