package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tokenbroker/tokenbroker/broker"
)

const usage = `tokenbroker — OAuth 2.0 client-credentials token broker

Usage:
  tokenbroker serve [--dev] [--config FILE] [--state-dir DIR] [--listen ADDR]
  tokenbroker clients create|get|list|update|delete|rotate-secret [flags]
  tokenbroker keys list|rotate [--force]
  tokenbroker certs client --cn NAME [--uri URI] [--dns NAME] [--out PREFIX]
  tokenbroker assertion --client-id ID [--key FILE] [--aud ISSUER]
  tokenbroker token --client-id ID (--secret-file F | --key F | --cert F --cert-key F) [--decode]
  tokenbroker inspect [--issuer URL] [--cert FILE] [TOKEN]
  tokenbroker demo api|client   (a protected API and a client for it; see README)
  tokenbroker audit verify FILE [--from HASH] [--key KEYFILE]
  tokenbroker bench --client-id ID (--secret-file F | --key F | --cert F --cert-key F) [--duration D] [--concurrency N] [--rate R] [--new-conn]
  tokenbroker config check FILE

Commands other than serve find the backend from --config FILE (or
TOKENBROKER_CONFIG), else from the dev state directory (--state-dir, default
./.tokenbroker-dev). Run "tokenbroker COMMAND -h" for a command's flags.
`

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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "clients":
		return cmdClients(ctx, args[1:], stdout, stderr)
	case "keys":
		return cmdKeys(ctx, args[1:], stdout, stderr)
	case "certs":
		return cmdCerts(ctx, args[1:], stdout, stderr)
	case "config":
		return cmdConfig(ctx, args[1:], stdout, stderr)
	case "assertion":
		return cmdAssertion(ctx, args[1:], stdout, stderr)
	case "token":
		return cmdToken(ctx, args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
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

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		return errors.New("usage: tokenbroker config check FILE")
	}
	fc, err := config.Load(args[1], os.Environ())
	if err != nil {
		return err
	}
	if err := runtime.Check(fc); err != nil {
		return fmt.Errorf("%s:\n%w", args[1], err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}

// cmdAudit verifies a hash-chained audit trail and names the first broken line.
func cmdAudit(args []string, stdout io.Writer) error {
	const use = "usage: tokenbroker audit verify FILE [--from HASH] [--key KEYFILE]"
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	from := fs.String("from", "", "hash the first line follows (for a rotated file: the last hash of the previous one)")
	keyFile := fs.String("key", "", "the audit.chain_key_file `FILE` of a keyed trail: also check every line's mac")
	if len(args) == 0 || args[0] != "verify" {
		return errors.New(use)
	}
	rest, path := args[1:], ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		path, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	if path == "" {
		return errors.New(use)
	}
	var key []byte
	if *keyFile != "" {
		var err error
		if key, err = runtime.ReadChainKey(*keyFile); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := broker.VerifyAuditTrail(f, *from, key)
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
