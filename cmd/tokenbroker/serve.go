package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "zero-config dev mode: creates and reuses --state-dir")
	cfgPath := fs.String("config", os.Getenv("TOKENBROKER_CONFIG"), "configuration `FILE` (default $TOKENBROKER_CONFIG)")
	stateDir := fs.String("state-dir", defaultDevState, "dev-mode state `DIR`")
	listen := fs.String("listen", "", "listen `ADDR` (default 127.0.0.1:8443, or the config's listen)")
	issuer := fs.String("issuer", "", "dev mode: issuer `URL` (default derived from --listen)")
	mtlsListen := fs.String("mtls-listen", "", "also listen on `ADDR` requiring a client certificate (RFC 8705 mtls_endpoint_aliases)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// load reads the configuration: at start, and again on SIGHUP.
	load := func() (*fileConfig, error) {
		switch {
		case *dev:
			addr := *listen
			if addr == "" {
				addr = defaultDevListen
			}
			iss := *issuer
			if iss == "" {
				var err error
				if iss, err = devIssuer(addr); err != nil {
					return nil, err
				}
			}
			if err := broker.ValidateIssuer(iss); err != nil {
				return nil, fmt.Errorf("--issuer: %w", err)
			}
			host, _, _ := net.SplitHostPort(iss[len("https://"):])
			if _, err := ensureDevState(ctx, *stateDir, host); err != nil {
				return nil, fmt.Errorf("dev state %s: %w", *stateDir, err)
			}
			fc := devConfig(*stateDir, addr, iss)
			if err := applyEnv(fc, os.Environ()); err != nil {
				return nil, err
			}
			if *mtlsListen != "" {
				fc.MTLS.Listen = *mtlsListen
			}
			return fc, nil
		case *cfgPath != "":
			fc, err := loadConfig(*cfgPath, os.Environ())
			if err != nil {
				return nil, err
			}
			if *listen != "" {
				fc.Listen = *listen
			}
			return fc, nil
		}
		return nil, fmt.Errorf("serve needs --dev or --config FILE")
	}
	fc, err := load()
	if err != nil {
		return err
	}
	// Check every key before opening anything.
	if _, err := buildRuntime(ctx, fc, io.Discard, false); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	proc, err := openProcess(ctx, fc)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	defer proc.Close()
	first, err := startInstance(ctx, proc, fc, stderr)
	if err != nil {
		return err
	}
	var cur atomic.Pointer[instance]
	cur.Store(first)
	defer func() { cur.Load().close() }()
	rt := first.rt
	if proc.auditErr != nil {
		rt.log.Error("audit trail opened, but", "err", proc.auditErr)
	}

	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		return err
	}
	var mln net.Listener
	if fc.MTLS.Listen != "" {
		if mln, err = net.Listen("tcp", fc.MTLS.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("mtls.listen: %w", err)
		}
	}
	if *dev {
		printDevBanner(stdout, *stateDir, rt.cfg.Issuer)
	}
	// Requests and TLS handshakes always go to the current instance, so a
	// SIGHUP swaps configuration without dropping a connection.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().srv.Handler().ServeHTTP(w, r) })
	getCert := func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return cur.Load().rt.getCertificate(h) }
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				reload(ctx, proc, &cur, load, fc, stderr)
			case <-ctx.Done():
				return
			}
		}
	}()
	if fc.Admin.Listen != "" {
		aln, err := net.Listen("tcp", fc.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		admin := newAdminServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().srv.AdminHandler().ServeHTTP(w, r) }))
		go admin.Serve(aln)
		defer admin.Close()
		rt.log.Info("admin listening", "addr", aln.Addr().String(), "paths", "/metrics /healthz /readyz")
	}
	errc := make(chan error, 2)
	go func() { errc <- broker.Serve(ctx, ln, broker.TLSConfig(getCert, false), handler, rt.log) }()
	rt.log.Info("listening", "addr", ln.Addr().String(), "issuer", rt.cfg.Issuer)
	n := 1
	if mln != nil {
		n++
		go func() { errc <- broker.Serve(ctx, mln, broker.TLSConfig(getCert, true), handler, rt.log) }()
		rt.log.Info("listening (client certificate required)", "addr", mln.Addr().String(), "alias", rt.cfg.MTLSBaseURL)
	}
	var firstErr error
	for range n {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// newAdminServer is the admin listener's server: plain HTTP, so every
// timeout is set — a slow or idle client must not hold a connection open
// (the write timeout leaves room for a 30 s CPU profile).
func newAdminServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// instance is one configured broker: its runtime and server.
type instance struct {
	rt  *runtime
	srv *broker.Server
}

func (i *instance) close() {
	i.srv.Close()
	i.rt.Close()
}

// startInstance builds the runtime and the server for fc over the
// process's shared state, limiter, audit writer and metrics.
func startInstance(ctx context.Context, proc *process, fc *fileConfig, stderr io.Writer) (*instance, error) {
	rt, err := buildRuntimeIn(ctx, proc, fc, stderr, true)
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	if created, err := rt.signing.Ensure(ctx); err != nil {
		rt.Close()
		return nil, fmt.Errorf("signing keys: %w", err)
	} else if created {
		rt.log.Info("created new signing keys", "source", rt.fc.Signing.Type, "alg", rt.cfg.SigningAlg)
	}
	srv, err := broker.New(ctx, rt.cfg, rt.store, broker.WithCache(rt.cacheOpt))
	if err != nil {
		rt.Close()
		return nil, err
	}
	return &instance{rt: rt, srv: srv}, nil
}

// reload re-reads the configuration and the certificates (SIGHUP). A new
// instance replaces the current one for new requests; the old one finishes
// what it has and is closed after a grace period. On any error the current
// instance stays. Both instances share proc: the replay cache, revocations,
// rate buckets, metrics and the audit writer are the process's and survive.
// Listen addresses, shared_state and audit (but audit.fail_closed) need a restart.
func reload(ctx context.Context, proc *process, cur *atomic.Pointer[instance], load func() (*fileConfig, error), orig *fileConfig, stderr io.Writer) {
	old := cur.Load()
	log := old.rt.log
	if err := proc.reopenAudit(); err != nil {
		log.Error("SIGHUP: reopening the audit file", "err", err)
	}
	fc, err := load()
	if err == nil && (fc.Listen != orig.Listen || fc.MTLS.Listen != orig.MTLS.Listen || fc.Admin.Listen != orig.Admin.Listen) {
		log.Warn("SIGHUP: listen addresses changed; they take effect after a restart")
	}
	if err == nil {
		if keys := proc.needsRestart(fc); len(keys) > 0 {
			log.Warn("SIGHUP: these settings changed; they take effect after a restart", "keys", keys)
		}
	}
	var next *instance
	if err == nil {
		next, err = startInstance(ctx, proc, fc, stderr)
	}
	if err != nil {
		log.Error("SIGHUP: reload failed; keeping the running configuration", "err", err)
		old.rt.reloadNow(ctx) // certificates, CA bundles and CRLs at least
		return
	}
	cur.Store(next)
	next.rt.log.Info("SIGHUP: configuration, certificates, CA bundles and CRLs reloaded")
	go func() {
		time.Sleep(30 * time.Second) // in-flight requests of the old instance finish
		old.close()
	}()
}
