package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

	// Once calls are coalesced: see onceBatch.
	start   sync.Once
	reqs    chan *onceReq
	stop    chan struct{}
	closing sync.Once
	done    chan struct{}
	noBatch bool // tests: one round trip per call, for comparison
}

var (
	_ Store   = (*Redis)(nil)
	_ Limiter = (*Redis)(nil)
)

// NewRedis returns a Store over c; prefix namespaces the keys (e.g. "tokenbroker:").
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix, reqs: make(chan *onceReq, maxOnceBatch*4), stop: make(chan struct{}), done: make(chan struct{})}
}

// Close stops the Once batcher (the client is the caller's to close); safe
// to call twice. Once after Close fails.
func (r *Redis) Close() error {
	r.closing.Do(func() {
		close(r.stop)
		r.start.Do(func() { close(r.done) }) // never started: nothing to wait for
		<-r.done
	})
	return nil
}

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

// Once implements Store: one script call. Concurrent calls are sent
// together in one pipeline (onceBatch), so under load a successful
// assertion costs a fraction of a round trip's system calls; alone, a call
// goes at once. Expiry is judged by the Redis server's clock (see
// serverNow); exp is the caller's.
func (r *Redis) Once(ctx context.Context, share Share, key string, exp time.Time) (bool, error) {
	q := &onceReq{key: r.shareKey(share.Owner), member: key, exp: exp.UnixMilli(), max: share.Max}
	var res int64
	var err error
	if r.noBatch {
		res, err = once.Run(ctx, r.c, []string{q.key}, q.member, q.exp, q.max).Int64()
	} else {
		res, err = r.batched(ctx, q)
	}
	if err != nil {
		return false, fmt.Errorf("state: redis: %w", err)
	}
	if res < 0 {
		return false, ErrShareFull
	}
	return res == 1, nil
}

// onceReq is one Once call waiting for its batch.
type onceReq struct {
	ctx         context.Context
	key, member string
	exp         int64
	max         int
	res         int64
	err         error
	done        chan struct{}
}

// maxOnceBatch bounds one pipeline.
const maxOnceBatch = 64

// errClosed is returned by Once after Close.
var errClosed = errors.New("store closed")

func (r *Redis) batched(ctx context.Context, q *onceReq) (int64, error) {
	r.start.Do(func() { go r.onceBatch() })
	q.ctx, q.done = ctx, make(chan struct{})
	select {
	case r.reqs <- q:
	case <-r.stop:
		return 0, errClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case <-q.done:
		return q.res, q.err
	case <-r.stop:
		return 0, errClosed
	case <-ctx.Done():
		// The write may still land: the jti is then spent, which fails
		// closed (the caller refuses this assertion either way).
		return 0, ctx.Err()
	}
}

// onceBatch sends the Once calls waiting at each moment in one pipeline:
// one write and one read for the lot instead of one of each per call. A
// call that arrives alone is sent alone, at once; while a pipeline is in
// flight the next calls queue and go together in the next one. Each
// script still touches one key, so a Redis Cluster client splits the
// pipeline by slot as usual.
func (r *Redis) onceBatch() {
	defer close(r.done)
	batch := make([]*onceReq, 0, maxOnceBatch)
	for {
		select {
		case <-r.stop:
			return
		case q := <-r.reqs:
			batch = append(batch[:0], q)
		}
	fill:
		for len(batch) < maxOnceBatch {
			select {
			case q := <-r.reqs:
				batch = append(batch, q)
			default:
				break fill
			}
		}
		r.flush(batch)
	}
}

// flush runs one batch. The pipeline is bounded by the client's own
// timeouts, not by any one caller's context (a caller that gives up does
// not fail the others).
func (r *Redis) flush(batch []*onceReq) {
	ctx := context.WithoutCancel(batch[0].ctx)
	cmds := make([]*redis.Cmd, len(batch))
	_, _ = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range batch {
			cmds[i] = once.EvalSha(ctx, p, []string{q.key}, q.member, q.exp, q.max)
		}
		return nil
	})
	for i, q := range batch {
		q.res, q.err = cmds[i].Int64()
		if q.err != nil && strings.HasPrefix(q.err.Error(), "NOSCRIPT") {
			// First use on this server (or after SCRIPT FLUSH): Run loads it.
			q.res, q.err = once.Run(ctx, r.c, []string{q.key}, q.member, q.exp, q.max).Int64()
		}
		close(q.done)
	}
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
