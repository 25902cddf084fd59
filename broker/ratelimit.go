package broker

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/tokenbroker/tokenbroker/backends/state"
)

// Rate is a token bucket: Burst requests at once, refilled at PerSecond.
type Rate struct {
	PerSecond float64
	Burst     float64
}

func (r Rate) on() bool { return r.PerSecond > 0 && r.Burst > 0 }

// RateLimits bound failed authentications (per claimed client_id and per
// source address) and, optionally, issuance per client.
type RateLimits struct {
	FailedPerClient   Rate
	FailedPerAddress  Rate
	IssuancePerClient Rate
	// Limiter holds the buckets (default in memory; Redis shares them across replicas).
	Limiter state.Limiter
}

// checkLimit looks (cost 0) or takes (cost 1) from a bucket. A limiter error
// lets the request through — rate limits protect, they must not take the
// service down — and is logged.
func (s *Server) checkLimit(ctx context.Context, kind, key string, r Rate, cost float64) *Error {
	if !r.on() || key == "" {
		return nil
	}
	ok, retry, err := s.cfg.RateLimits.Limiter.Take(ctx, kind+":"+key, cost, r.PerSecond, r.Burst)
	if err != nil {
		s.log.Warn("rate limiter unavailable; not limiting", "limit", kind, "err", err)
		return nil
	}
	if ok || cost > 0 && kind != "issue" {
		return nil
	}
	s.metrics.limited.WithLabelValues(kind).Inc()
	e := oauthErr(http.StatusTooManyRequests, "temporarily_unavailable", "too many requests; retry later", fmt.Errorf("rate limit %s for %s", kind, key))
	e.retryAfter = int(math.Ceil(retry.Seconds()))
	if e.retryAfter < 1 {
		e.retryAfter = 1
	}
	return e
}
