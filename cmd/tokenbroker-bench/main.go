// Command tokenbroker-bench is the load tool for a tokenbroker: it drives
// the token endpoint with one client's credentials and reports tokens/s,
// latency percentiles and the server's CPU time per token. It is a program
// of its own, not a command of the broker: a load generator has no place in
// the binary that runs in production.
//
//	tokenbroker-bench --issuer https://127.0.0.1:8443 --client-id demo-basic \
//	    --secret-file .tokenbroker-dev/demo/demo-basic/secret --duration 10s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenbroker/tokenbroker/cmd/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tokenbroker-bench:", err)
		}
		os.Exit(2)
	}
}
