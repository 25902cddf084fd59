package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
)

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return errors.New("usage: tokenbroker keys list|rotate [--force]")
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf backendFlags
	bf.register(fs)
	force := fs.Bool("force", false, "rotate even if the next key was published less than keys.jwks_max_age ago")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	fc, err := bf.load()
	if err != nil {
		return err
	}
	rt, err := buildRuntime(ctx, fc, stderr, false)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, fc, rt.log)
	if err != nil {
		return err
	}
	defer store.Close()
	if args[0] == "rotate" {
		if _, err := broker.EnsureKeySet(ctx, store, rt.cfg.SigningAlg); err != nil {
			return err
		}
		if _, err := broker.RotateKeys(ctx, store, rt.cfg.SigningAlg, rt.cfg.JWKSMaxAge, rt.cfg.MaxTokenLifetime, *force); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		fmt.Fprintln(stdout, "rotated; running brokers pick the new active key up within keys.refresh")
	}
	ks, err := store.GetKeySet(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED")
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range ks.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, k.CreatedAt.UTC().Format(time.RFC3339), ts(k.ActivatedAt), ts(k.RetiredAt))
	}
	return tw.Flush()
}
