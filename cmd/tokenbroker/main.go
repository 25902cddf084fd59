package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tokenbroker:", err)
		}
		os.Exit(exitCode(err))
	}
}

// backendFlags are shared by the commands that work on a backend.
type backendFlags struct {
	config   string
	stateDir string
}

func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.config, "config", os.Getenv("TOKENBROKER_CONFIG"), "configuration `FILE` (default $TOKENBROKER_CONFIG)")
	fs.StringVar(&b.stateDir, "state-dir", defaultDevState, "dev-mode state `DIR`, used when no --config is given")
}

// load returns the configuration the command works against.
func (b *backendFlags) load() (*config.Config, error) {
	if b.config != "" {
		return config.Load(b.config, os.Environ())
	}
	if !fileExists(b.stateDir) {
		return nil, fmt.Errorf("no --config given and no dev state directory %s (run: tokenbroker serve --dev)", b.stateDir)
	}
	fc := devConfig(b.stateDir, defaultDevListen, "https://"+defaultDevListen)
	return fc, config.ApplyEnv(fc, os.Environ())
}

// open opens the backend the command works against — the one way the CLI
// opens one, warnings to stderr. The caller closes the store.
func (b *backendFlags) open(ctx context.Context, stderr io.Writer) (*config.Config, backends.Store, error) {
	fc, err := b.load()
	if err != nil {
		return nil, nil, err
	}
	store, err := b.openStore(ctx, fc, stderr)
	if err != nil {
		return nil, nil, err
	}
	return fc, store, nil
}

// openStore opens fc's backend for a command, warnings to stderr.
func (b *backendFlags) openStore(ctx context.Context, fc *config.Config, stderr io.Writer) (backends.Store, error) {
	return runtime.OpenStore(ctx, fc, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

func configCheckCommand(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, e env, args []string) error {
		fc, err := config.Load(args[0], os.Environ())
		if err != nil {
			return err
		}
		if err := runtime.Check(fc); err != nil {
			return fmt.Errorf("%s:\n%w", args[0], err)
		}
		fmt.Fprintf(e.stdout, "%s: ok\n", args[0])
		return nil
	}
}
