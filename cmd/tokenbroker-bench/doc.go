// Command tokenbroker-bench is the load tool for a tokenbroker: it drives
// the token endpoint with one client's credentials and reports tokens/s,
// latency percentiles and the server's CPU time per token. It is a program
// of its own, not a command of the broker: a load generator has no place in
// the binary that runs in production.
//
//	tokenbroker-bench --issuer https://127.0.0.1:8443 --client-id demo-basic \
//	    --secret-file .tokenbroker-dev/demo/demo-basic/secret --duration 10s
package main
