package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/awssm"
	"github.com/tokenbroker/tokenbroker/backends/vault"
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
	if fc.Signing.Type == "aws-version-stages" {
		as, ok := store.(*awssm.Store)
		if !ok {
			return errors.New("signing.type: aws-version-stages needs backend.type awssm")
		}
		keys := as.StagedKeys(rt.cfg.SigningAlg, rt.cfg.JWKSMaxAge, rt.cfg.MaxTokenLifetime)
		if _, err := keys.Ensure(ctx); err != nil {
			return err
		}
		if args[0] == "rotate" {
			if err := keys.Rotate(ctx, *force); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
			fmt.Fprintln(stdout, "rotated: AWSPENDING is now AWSCURRENT, a new AWSPENDING key is published")
		}
		set, err := keys.SigningSet(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "active (AWSCURRENT): %s\npublished: ", set.Active.KeyID())
		for _, p := range set.Published {
			fmt.Fprintf(stdout, "%s ", p.KID)
		}
		fmt.Fprintln(stdout)
		return nil
	}
	if fc.Signing.Type == "vault-transit" {
		vs, ok := store.(*vault.Store)
		if !ok {
			return errors.New("signing.type: vault-transit needs backend.type vault")
		}
		tr, err := vs.Transit(ctx, vault.TransitConfig{Mount: fc.Signing.Transit.Mount, Key: fc.Signing.Transit.Key, Alg: rt.cfg.SigningAlg, PublishDelay: rt.cfg.JWKSMaxAge, MaxLifetime: rt.cfg.MaxTokenLifetime})
		if err != nil {
			return err
		}
		defer tr.Close()
		if args[0] == "rotate" {
			if err := tr.Rotate(ctx); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
			fmt.Fprintf(stdout, "rotated the Transit key; the new version is published now and signs after %s (keys.jwks_max_age)\n", rt.cfg.JWKSMaxAge)
		}
		rows, err := tr.Versions(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED")
		for _, r := range rows {
			fmt.Fprintln(tw, r)
		}
		return tw.Flush()
	}
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
