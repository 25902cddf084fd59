package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tokenbroker/tokenbroker/broker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tokenbroker:", err)
		}
		os.Exit(2)
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
	store, err := runtime.OpenStore(ctx, fc, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, nil, err
	}
	return fc, store, nil
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

// auditVerifyCommand verifies a hash-chained audit trail and names the
// first broken line.
func auditVerifyCommand(fs *flag.FlagSet) runFunc {
	from := fs.String("from", "", "hash the first line follows (for a rotated file: the last hash of the previous one)")
	keyFile := fs.String("key", "", "the audit.chain_key_file `FILE` of a keyed trail: also check every line's mac")
	return func(_ context.Context, e env, args []string) error {
		return auditVerify(e.stdout, args[0], *from, *keyFile)
	}
}

func auditVerify(stdout io.Writer, path, from, keyFile string) error {
	var key []byte
	if keyFile != "" {
		var err error
		if key, err = runtime.ReadChainKey(keyFile); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := broker.VerifyAuditTrail(f, from, key)
	if err != nil {
		return err
	}
	if rep.Broken != 0 {
		hint := ""
		if key != nil {
			hint = " (or its mac does not verify under this key)"
		}
		return fmt.Errorf("%s: chain broken at line %d (of %d read): that line, or the one before it, was altered, removed or inserted%s", path, rep.Broken, rep.Lines, hint)
	}
	what := "chain intact"
	if key != nil {
		what = "chain and macs intact"
	} else if keyedTrail(f) {
		what = "chain intact (its lines carry a mac: check them with --key)"
	}
	summary := fmt.Sprintf("%s: %d events, %s", path, rep.Events, what)
	if rep.Opened+rep.Closed > 0 {
		summary += fmt.Sprintf(" (%d lines with %d trail_opened, %d trail_closed)", rep.Lines, rep.Opened, rep.Closed)
	}
	if len(rep.Unclean) > 0 {
		// The chain holds, but a writer found the file other than it left
		// it: an audit question for a human, so the check fails.
		var b strings.Builder
		for _, u := range rep.Unclean {
			fmt.Fprintf(&b, "\n  line %d: %s", u.Line, u.Problem)
		}
		return fmt.Errorf("%s; but:%s", summary, b.String())
	}
	if rep.EndsOpen {
		summary += "; the last line is not trail_closed (the broker is running, or stopped uncleanly, or lines were cut off the end since)"
	}
	fmt.Fprintln(stdout, summary)
	return nil
}

// keyedTrail reports whether the trail's first line carries a mac.
func keyedTrail(f *os.File) bool {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false
	}
	l, _ := bufio.NewReaderSize(f, 16<<10).ReadSlice('\n')
	return bytes.Contains(l, []byte(`,"mac":"`))
}
