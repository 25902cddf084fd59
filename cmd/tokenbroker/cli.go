package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// runFunc runs a command with its positional arguments (its flags were
// bound by the command's flags function).
type runFunc func(ctx context.Context, e env, args []string) error

// command is one entry of the CLI table: help and dispatch are generated
// from it.
type command struct {
	// name is the words that select it: "serve", "clients create".
	name string
	// args is the synopsis of its positional arguments ("CLIENT_ID", "FILE").
	args string
	// nargs is how many positional arguments it takes: exactly, or at most
	// when negative (-1: none or one); 0: none.
	nargs   int
	summary string
	// flags registers the command's flags on fs and returns its run
	// function, bound to them.
	flags func(fs *flag.FlagSet) runFunc
}

// commands is the CLI, in the order help lists it.
var commands []command

func init() {
	commands = []command{
		{name: "serve", summary: "run the broker (--dev: zero-config dev mode; --config FILE: production)", flags: serveCommand},
		{name: "config check", args: "FILE", nargs: 1, summary: "validate a configuration file without opening or creating anything", flags: configCheckCommand},
		{name: "clients create", summary: "register a client (flags or --metadata FILE); prints its credentials", flags: clientsCreateCommand},
		{name: "clients get", args: "CLIENT_ID", nargs: 1, summary: "print a client's record", flags: clientsGetCommand},
		{name: "clients list", summary: "list client ids", flags: clientsListCommand},
		{name: "clients update", args: "CLIENT_ID", nargs: 1, summary: "change a client's record (flags, or --metadata FILE replaces it)", flags: clientsUpdateCommand},
		{name: "clients delete", args: "CLIENT_ID", nargs: 1, summary: "delete a client", flags: clientsDeleteCommand},
		{name: "clients rotate-secret", args: "CLIENT_ID", nargs: 1, summary: "issue a new secret; the old one stays valid for --grace", flags: clientsRotateCommand},
		{name: "keys list", summary: "list the signing keys", flags: keysCommand(false)},
		{name: "keys rotate", summary: "publish a new signing key, then sign with it", flags: keysCommand(true)},
		{name: "certs client", summary: "issue a client certificate from the dev client CA (or --ca)", flags: certsClientCommand},
		{name: "assertion", summary: "mint an RFC 7523 client assertion (private_key_jwt)", flags: assertionCommand},
		{name: "federated-token", summary: "mint a demo Kubernetes service-account token from the dev federated issuer (federated_jwt)", flags: federatedTokenCommand},
		{name: dpopProofCmd, summary: "print a DPoP proof (RFC 9449) for one request, for curl -H \"DPoP: …\"", flags: dpopProofCommand},
		{name: "token", summary: "get a token as any client: secret, private key or certificate", flags: tokenCommand},
		{name: "inspect", args: "[TOKEN]", nargs: -1, summary: "verify a token against the issuer's JWKS and show its claims (stdin without TOKEN)", flags: inspectCommand},
		{name: "demo api", summary: "serve a tiny API protected by the resource middleware", flags: demoCommand("api")},
		{name: "demo client", summary: "call the demo API with the client kit over mTLS, then replay the token", flags: demoCommand("client")},
		{name: "audit verify", args: "FILE", nargs: 1, summary: "check a hash-chained audit trail and name the first broken line", flags: auditVerifyCommand},
		{name: "healthcheck", summary: "probe the admin listener's /readyz: exit 0 ready, 1 not (container HEALTHCHECK)", flags: healthcheckCommand},
		{name: "help", args: "[COMMAND]", nargs: -3, summary: "show this help, or a command's flags", flags: helpCommand},
	}
}

// moved are commands that left the broker's binary, and where they went.
var moved = map[string]string{
	"bench": "tokenbroker-bench (go build ./cmd/tokenbroker-bench), same flags",
}

const helpFooter = `
Commands other than serve find the backend from --config FILE (or
TOKENBROKER_CONFIG), else from the dev state directory (--state-dir, default
./.tokenbroker-dev). Run "tokenbroker COMMAND -h" for a command's flags.
`

// usage writes the help generated from the table.
func usage(w io.Writer) {
	fmt.Fprint(w, "tokenbroker — OAuth 2.0 client-credentials token broker\n\nUsage:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  tokenbroker %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, helpFooter)
}

// lookup finds the command args name: the longest name that prefixes
// args; rest is what follows it.
func lookup(args []string) (c *command, rest []string) {
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == commands[i].name &&
			(c == nil || len(words) > len(strings.Fields(c.name))) {
			c, rest = &commands[i], args[len(words):]
		}
	}
	return c, rest
}

// group is the commands whose name starts with word (e.g. "clients").
func group(word string) []string {
	var names []string
	for _, c := range commands {
		if first, rest, ok := strings.Cut(c.name, " "); ok && first == word {
			names = append(names, rest)
		}
	}
	return names
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	if args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	c, rest := lookup(args)
	if c == nil {
		if subs := group(args[0]); len(subs) > 0 {
			return fmt.Errorf("usage: tokenbroker %s %s", args[0], strings.Join(subs, "|"))
		}
		if to, ok := moved[args[0]]; ok {
			return fmt.Errorf("%q is a program of its own now: %s", args[0], to)
		}
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.exec(ctx, env{stdin: os.Stdin, stdout: stdout, stderr: stderr}, rest)
}

// exec parses the command's flags — before, between and after its
// positional arguments — and runs it.
func (c *command) exec(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: tokenbroker %s [flags]\n  %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
		fs.PrintDefaults()
	}
	runCmd := c.flags(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if n := c.nargs; (n >= 0 && len(pos) != n) || (n < 0 && len(pos) > -n) {
		return fmt.Errorf("usage: tokenbroker %s [flags]", strings.TrimSpace(c.name+" "+c.args))
	}
	return runCmd(ctx, e, pos)
}

func helpCommand(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, e env, args []string) error {
		if len(args) == 0 {
			usage(e.stdout)
			return nil
		}
		c, _ := lookup(args)
		if c == nil {
			return fmt.Errorf("unknown command %q", args[0])
		}
		err := c.exec(ctx, env{stdin: e.stdin, stdout: e.stdout, stderr: e.stdout}, []string{"-h"})
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
}
