package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
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
	var fc *fileConfig
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
				return err
			}
		}
		if err := broker.ValidateIssuer(iss); err != nil {
			return fmt.Errorf("--issuer: %w", err)
		}
		host, _, _ := net.SplitHostPort(iss[len("https://"):])
		if _, err := ensureDevState(ctx, *stateDir, host); err != nil {
			return fmt.Errorf("dev state %s: %w", *stateDir, err)
		}
		fc = devConfig(*stateDir, addr, iss)
		if err := applyEnv(fc, os.Environ()); err != nil {
			return err
		}
		if *mtlsListen != "" {
			fc.MTLS.Listen = *mtlsListen
		}
	case *cfgPath != "":
		var err error
		if fc, err = loadConfig(*cfgPath, os.Environ()); err != nil {
			return err
		}
		if *listen != "" {
			fc.Listen = *listen
		}
	default:
		return fmt.Errorf("serve needs --dev or --config FILE")
	}
	rt, err := buildRuntime(ctx, fc, stderr, true)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	defer rt.Close()
	store := rt.store
	if rt.transit == nil && rt.staged == nil {
		if created, err := broker.EnsureKeySet(ctx, store, rt.cfg.SigningAlg); err != nil {
			return fmt.Errorf("signing keys: %w", err)
		} else if created {
			rt.log.Info("created a new signing key set", "alg", rt.cfg.SigningAlg)
		}
	}
	srv, err := broker.New(ctx, rt.cfg, store, broker.WithCache(rt.cacheOpt))
	if err != nil {
		return err
	}
	defer srv.Close()
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				rt.reloadNow(ctx)
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
		admin := &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
		go admin.Serve(aln)
		defer admin.Close()
		rt.log.Info("admin listening", "addr", aln.Addr().String(), "paths", "/metrics /healthz /readyz")
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ctx, ln, broker.TLSConfig(rt.getCertificate, false)) }()
	rt.log.Info("listening", "addr", ln.Addr().String(), "issuer", rt.cfg.Issuer)
	n := 1
	if mln != nil {
		n++
		go func() { errc <- srv.Serve(ctx, mln, broker.TLSConfig(rt.getCertificate, true)) }()
		rt.log.Info("listening (client certificate required)", "addr", mln.Addr().String(), "alias", rt.cfg.MTLSBaseURL)
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}
