package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
)

// keysCommand lists the signing keys, rotating first with rotate set.
func keysCommand(rotate bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		var bf backendFlags
		bf.register(fs)
		var force *bool
		to := new(string)
		if rotate {
			force = fs.Bool("force", false, "rotate even if the next key was published less than keys.jwks_max_age ago")
			to = fs.String("to", "", "rotate to this existing key instead of creating one (sources that hold keys elsewhere, e.g. an AWS KMS key id or ARN)")
		}
		return func(ctx context.Context, e env, _ []string) error {
			return keys(ctx, e, &bf, rotate, force != nil && *force, *to)
		}
	}
}

func keys(ctx context.Context, e env, bf *backendFlags, rotate, force bool, to string) error {
	stdout, stderr := e.stdout, e.stderr
	fc, err := bf.load()
	if err != nil {
		return err
	}
	if err := runtime.Validate(fc); err != nil {
		return err
	}
	store, err := bf.openStore(ctx, fc, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := runtime.OpenSigning(ctx, store, fc)
	if err != nil {
		return err
	}
	defer keys.Close()
	if rotate {
		if _, err := keys.Ensure(ctx); err != nil {
			return err
		}
		rotate := keys.Rotate
		if to != "" {
			tr, ok := keys.(signing.TargetRotator)
			if !ok {
				return fmt.Errorf("rotate --to: signing.type %q creates its own keys", fc.Signing.Type)
			}
			rotate = func(ctx context.Context, force bool) error { return tr.RotateTo(ctx, to, force) }
		}
		if err := rotate(ctx, force); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		fmt.Fprintf(stdout, "rotated; a new key signs once published for keys.jwks_max_age (%s), and running brokers pick it up within keys.refresh\n", runtime.SigningOptions(fc).PublishDelay)
	}
	list, err := keys.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tVERSION")
	ts := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range list {
		v := k.Version
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, ts(&k.Created), ts(k.Activated), ts(k.Retired), v)
	}
	return tw.Flush()
}
