package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// serveFlags are serve's flags; load turns them into a configuration.
type serveFlags struct {
	dev                       bool
	cfgPath, stateDir, listen string
	issuer, mtlsListen        string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.dev, "dev", false, "zero-config dev mode: creates and reuses --state-dir")
	fs.StringVar(&f.cfgPath, "config", os.Getenv("TOKENBROKER_CONFIG"), "configuration `FILE` (default $TOKENBROKER_CONFIG)")
	fs.StringVar(&f.stateDir, "state-dir", defaultDevState, "dev-mode state `DIR`")
	fs.StringVar(&f.listen, "listen", "", "listen `ADDR` (default 127.0.0.1:8443, or the config's listen)")
	fs.StringVar(&f.issuer, "issuer", "", "dev mode: issuer `URL` (default derived from --listen)")
	fs.StringVar(&f.mtlsListen, "mtls-listen", "", "also listen on `ADDR` requiring a client certificate (RFC 8705 mtls_endpoint_aliases)")
}

// loader reads the configuration: at start, and again on SIGHUP.
func (f *serveFlags) loader(ctx context.Context) runtime.Loader {
	return func() (*config.Config, error) {
		switch {
		case f.dev:
			return f.devConfig(ctx)
		case f.cfgPath != "":
			fc, err := config.Load(f.cfgPath, os.Environ())
			if err != nil {
				return nil, err
			}
			if f.listen != "" {
				fc.Listen = f.listen
			}
			return fc, nil
		}
		return nil, fmt.Errorf("serve needs --dev or --config FILE")
	}
}

// devConfig creates (or reuses) the dev state directory and returns the
// configuration dev mode runs with.
func (f *serveFlags) devConfig(ctx context.Context) (*config.Config, error) {
	addr := f.listen
	if addr == "" {
		addr = defaultDevListen
	}
	iss := f.issuer
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
	if _, err := ensureDevState(ctx, f.stateDir, host); err != nil {
		return nil, fmt.Errorf("dev state %s: %w", f.stateDir, err)
	}
	fc := devConfig(f.stateDir, addr, iss)
	if err := config.ApplyEnv(fc, os.Environ()); err != nil {
		return nil, err
	}
	if f.mtlsListen != "" {
		fc.MTLS.Listen = f.mtlsListen
	}
	return fc, nil
}

func serveCommand(fs *flag.FlagSet) runFunc {
	var f serveFlags
	f.register(fs)
	return func(ctx context.Context, e env, _ []string) error {
		rt, err := runtime.New(ctx, f.loader(ctx), e.stderr)
		if err != nil {
			return err
		}
		defer rt.Close()
		if f.dev {
			printDevBanner(e.stdout, f.stateDir, rt.Issuer())
		}
		return rt.Run(ctx)
	}
}
