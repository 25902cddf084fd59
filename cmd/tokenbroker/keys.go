package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"
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
	store, err := runtime.OpenStore(ctx, fc, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := runtime.OpenSigning(ctx, store, fc)
	if err != nil {
		return err
	}
	defer keys.Close()
	if args[0] == "rotate" {
		if _, err := keys.Ensure(ctx); err != nil {
			return err
		}
		if err := keys.Rotate(ctx, *force); err != nil {
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
