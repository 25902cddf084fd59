// Package cache is the one caching layer every backend sits behind, so the
// token endpoint answers from memory and a backend outage does not stop
// token issuance for known clients.
//
// A value younger than RefreshAfter is served as is; between RefreshAfter and
// TTL it is served and refreshed in the background (refresh-ahead); past TTL it
// is reloaded, and if the backend fails the last good value is served (and
// logged) until TTL+StaleWindow. Misses are single-flight; ErrNotFound is
// cached briefly (negative caching); a miss while the backend is known to be
// down fails fast with backends.ErrUnavailable. The number of entries is bounded.
//
//	clients := cache.NewClients(store, cache.Options{TTL: time.Minute})
//	defer clients.Close()
//	entry, err := clients.Get(ctx, "payments-api")
package cache
