// Package cache is the one caching layer every backend sits behind, so the
// token endpoint answers from memory and a backend outage does not stop
// token issuance for known clients.
//
// A value younger than RefreshAfter is served as is; between RefreshAfter and
// TTL it is served and refreshed in the background (refresh-ahead); past TTL
// it is still served at once while a background reload runs
// (stale-while-revalidate), and while the backend fails the last good value is
// served (and logged) until TTL+StaleWindow. Only a true miss waits on the
// backend, single-flight (x/sync/singleflight: concurrent misses of a key
// share one load) and bounded by LoadTimeout; a miss while the backend
// is known to be down fails fast with backends.ErrUnavailable.
//
// "Not found" and an invalid record (backends.ErrInvalidRecord: that client
// is refused, the backend is not down) are cached like values, for
// NegativeTTL (default TTL), in a bounded set of their own that can never
// evict a value. Clients makes the first load of an unknown or refused
// client take the same backend calls as a found one (the secrets read is
// spent and ignored), so a first lookup's latency does not tell which ids
// exist either; only a cached id answers faster. A key that fails
// backends.ValidClientID is "not found" without a load. While the backend
// is down a background probe retries it every RetryBackoff, so Degraded
// clears by itself when it returns.
//
//	clients := cache.NewClients(store, cache.Options{TTL: time.Minute}, cache.WithValidator(validate))
//	defer clients.Close()
//	entry, err := clients.Get(ctx, "payments-api")
package cache
