package authn

import "time"

// SetFetcherClock replaces the fetcher's clock (tests only).
func SetFetcherClock(f *JWKSFetcher, now func() time.Time) { f.now = now }
