package state

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store shared by every broker replica: assertion jti values,
// revoked token ids and rate-limit buckets live in Redis (a single server,
// Sentinel, a Redis Cluster or Valkey: any redis.UniversalClient). Every
// command and script touches one key, so it works on a cluster. An owner's
// keys live in one sorted set ("s:" + owner), which is what bounds its share.
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

// serverNow is the Lua prelude that reads "now" (ms) from the Redis server's
// clock, so every replica judges expiry by one clock: a replica whose clock
// runs ahead cannot purge keys the others still hold live. Reading TIME
// before a write is allowed since Redis 5 replicates script effects rather
// than the script (the default, and the only mode in Redis 7).
const serverNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// once records a key in its owner's sorted set (member: the key, score: its
// expiry in ms), dropping the owner's expired keys first, all in one round
// trip and atomically across replicas. One Redis key per call, so it runs on
// a cluster. KEYS[1] the owner's set; ARGV: key, exp (ms, the caller's
// absolute expiry: data, not a clock read), max (≤ 0: no bound). Returns 1
// recorded, 0 already recorded, -1 share full.
var once = redis.NewScript(serverNow + `
local exp, max = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then return -1 end
if exp <= now then exp = now + 1 end
redis.call('ZADD', KEYS[1], exp, ARGV[1])
if redis.call('PTTL', KEYS[1]) < exp - now then redis.call('PEXPIRE', KEYS[1], exp - now) end
return 1
`)

// has reports (1/0) whether ARGV[1] is in the sorted set KEYS[1] with an
// expiry after the server's now: a read-only script, one round trip.
var has = redis.NewScript(serverNow + `
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if exp and tonumber(exp) > now then return 1 end
return 0
`)

// shareKey is the Redis key of owner's sorted set.
func (r *Redis) shareKey(owner string) string { return r.prefix + "s:" + owner }

// Once implements Store: one script call, so one round trip. Expiry is
// judged by the Redis server's clock (see serverNow); exp is the caller's.
func (r *Redis) Once(ctx context.Context, share Share, key string, exp time.Time) (bool, error) {
	res, err := once.Run(ctx, r.c, []string{r.shareKey(share.Owner)}, key, exp.UnixMilli(), share.Max).Int64()
	if err != nil {
		return false, fmt.Errorf("state: redis: %w", err)
	}
	if res < 0 {
		return false, ErrShareFull
	}
	return res == 1, nil
}

// Has implements Store: one script call judged by the Redis server's clock.
func (r *Redis) Has(ctx context.Context, owner, key string) (bool, error) {
	res, err := has.Run(ctx, r.c, []string{r.shareKey(owner)}, key).Int64()
	if err != nil {
		return false, fmt.Errorf("state: redis: %w", err)
	}
	return res == 1, nil
}

// Ping reports whether Redis answers (readiness).
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// tokenBucket atomically refills and takes from a bucket stored as a hash,
// timed by the Redis server's clock (serverNow) like the shares. KEYS[1]
// bucket; ARGV: cost, rate (tokens/s), burst. Returns {allowed (0/1),
// milliseconds until cost tokens are available}.
var tokenBucket = redis.NewScript(serverNow + `
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local cost, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
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
	res, err := tokenBucket.Run(ctx, r.c, []string{r.prefix + "rl:" + key}, cost, rate, burst).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("state: redis: %w", err)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}
