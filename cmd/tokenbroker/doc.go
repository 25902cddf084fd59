// Command tokenbroker is the OAuth 2.0 client-credentials authorization
// server and its operator CLI. It parses flags and reads the configuration
// file and the environment (internal/config); everything else — wiring,
// serving, reloading — is the process runtime's (broker/runtime). The
// commands are one table (cli.go): name, synopsis, summary, flags and run
// function; help and dispatch are generated from it. The load tool is a
// program of its own, cmd/tokenbroker-bench.
//
//	tokenbroker serve --dev                 # zero-config dev broker on https://127.0.0.1:8443
//	tokenbroker serve --config broker.yaml  # production
//	tokenbroker clients create --name billing --method client_secret_basic --scope read
//	tokenbroker keys rotate
//	tokenbroker config check broker.yaml    # a dry run: opens and creates nothing
//	tokenbroker help
package main
