// Package bench is the load tool behind tokenbroker-bench: it drives a
// broker's token endpoint with one client's credentials — closed loop
// (--concurrency workers back to back) or open loop (--rate, latency from
// each request's scheduled time) — and reports tokens/s, latency
// percentiles and, given the admin URL, the server's CPU time per token.
//
//	err := bench.Run(ctx, []string{"--client-id", "demo-basic", "--secret-file", "secret", "--duration", "5s"}, os.Stdout, os.Stderr)
package bench
