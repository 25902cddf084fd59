package state

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store shared by every broker replica: assertion jti values,
// revoked token ids and rate-limit buckets live in Redis (a single server,
// Sentinel, a Redis Cluster or Valkey: any redis.UniversalClient). Every key
// is single-slot, so it works on a cluster.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

var (
	_ Store   = (*Redis)(nil)
	_ Limiter = (*Redis)(nil)
)

// NewRedis returns a Store over c; prefix namespaces the keys (e.g. "tokenbroker:").
func NewRedis(c redis.UniversalClient, prefix string) *Redis { return &Redis{c: c, prefix: prefix} }

// Once implements Store with SET NX and an expiry: atomic across replicas.
func (r *Redis) Once(ctx context.Context, key string, exp time.Time) (bool, error) {
	ttl := time.Until(exp)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ok, err := r.c.SetNX(ctx, r.prefix+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("state: redis: %w", err)
	}
	return ok, nil
}

// Has implements Store.
func (r *Redis) Has(ctx context.Context, key string) (bool, error) {
	n, err := r.c.Exists(ctx, r.prefix+key).Result()
	if err != nil {
		return false, fmt.Errorf("state: redis: %w", err)
	}
	return n > 0, nil
}

// Ping reports whether Redis answers (readiness).
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// tokenBucket atomically refills and takes from a bucket stored as a hash.
// KEYS[1] bucket; ARGV: cost, rate (tokens/s), burst, now (ms). Returns
// {allowed (0/1), milliseconds until cost tokens are available}.
var tokenBucket = redis.NewScript(`
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local cost, rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local need = math.max(cost, 1)
if tokens < need then
  redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
  return {0, math.ceil((need - tokens) / rate * 1000)}
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {1, 0}
`)

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, cost, rate, burst float64) (bool, time.Duration, error) {
	res, err := tokenBucket.Run(ctx, r.c, []string{r.prefix + "rl:" + key}, cost, rate, burst, time.Now().UnixMilli()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("state: redis: %w", err)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}
