package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// Help is generated from the command table: every command is listed with
// its summary, "help COMMAND" and "COMMAND -h" show its flags, a group
// name alone lists its subcommands, and flags may come before or after a
// command's positional arguments.
func TestCommandTable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out.String(), "tokenbroker "+c.name) || !strings.Contains(out.String(), c.summary) {
			t.Errorf("help does not list %q", c.name)
		}
		var h bytes.Buffer
		if err := run(context.Background(), append(strings.Fields(c.name), "-h"), &h, &h); !errors.Is(err, flag.ErrHelp) || !strings.Contains(h.String(), "usage: tokenbroker "+c.name) {
			t.Errorf("%s -h: %v %s", c.name, err, h.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"help", "keys", "rotate"}, &out, &out); err != nil || !strings.Contains(out.String(), "-force") {
		t.Errorf("help keys rotate: %v %s", err, out.String())
	}
	if err := run(context.Background(), []string{"clients"}, &out, &out); err == nil || !strings.Contains(err.Error(), "create|get|list|update|delete|rotate-secret") {
		t.Errorf("clients alone: %v", err)
	}
	if err := run(context.Background(), []string{"nope"}, &out, &out); err == nil || !strings.Contains(err.Error(), `unknown command "nope"`) {
		t.Errorf("unknown command: %v", err)
	}
	if err := run(context.Background(), []string{"bench"}, &out, &out); err == nil || !strings.Contains(err.Error(), "tokenbroker-bench") {
		t.Errorf("bench: %v", err)
	}
	// audit verify FILE --key K and --key K FILE are the same command.
	for _, args := range [][]string{{"audit", "verify", "/nonexistent", "--from", "x"}, {"audit", "verify", "--from", "x", "/nonexistent"}} {
		if err := run(context.Background(), args, &out, &out); err == nil || !strings.Contains(err.Error(), "/nonexistent") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := run(context.Background(), []string{"config", "check"}, &out, &out); err == nil || !strings.Contains(err.Error(), "usage: tokenbroker config check FILE") {
		t.Errorf("config check without FILE: %v", err)
	}
}
