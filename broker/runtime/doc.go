// Package runtime runs a tokenbroker process: it turns a configuration
// (internal/config) into the broker's collaborators and keeps them apart by
// lifetime. One Runtime per process owns what must outlive a reload — the
// listeners, the shared state (replay cache, revocations) and rate-limit
// buckets, the audit writer and its chain, the metrics. A reload (SIGHUP,
// or Reload) builds a new instance from the new configuration — policy,
// TLS material, client authentication, the backend — over those same
// parts, swaps it in for new requests and closes the old one after a grace
// period; a configuration that fails keeps the running one.
//
// The backend is whichever kind backend.type names among those a package
// registered (backends.Register; the blank imports in backends.go): the
// runtime opens it, validates and checks its settings, and keys a reload's
// reuse of the open backend on its settings and the content of the files
// it names (Driver.Files).
//
// Check is the dry run behind "tokenbroker config check": every key
// validated, the files the configuration names read, nothing opened or
// created.
//
//	load := func() (*config.Config, error) { return config.Load("broker.yaml", os.Environ()) }
//	rt, err := runtime.New(ctx, load, os.Stderr)
//	if err != nil {
//		return err
//	}
//	defer rt.Close()
//	return rt.Run(ctx) // until ctx ends; SIGHUP reloads
package runtime
