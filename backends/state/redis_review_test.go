package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

// A replica whose clock runs ahead (here 2 minutes) must not purge the other
// replicas' live jtis and revocations: the store judges expiry by the Redis
// server's clock (TIME inside the scripts), so the only thing a skewed
// replica contributes is the absolute exp of its own keys — data, taken from
// its own token or assertion. Before the fix the script's "now" was the
// caller's time.Now(), and ZREMRANGEBYSCORE dropped every member of the
// owner's set whose exp ≤ that now: a spent assertion was accepted again by
// a correct replica (RFC 7523 §3 item 7) and a revoked token read as not
// revoked (RFC 7009 §2.2).
func TestReviewRedisSharesSurviveReplicaClockSkew(t *testing.T) {
	t.Parallel()
	addr, _ := statetest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	b := state.NewRedis(c, "tb:") // replica B, correct clock
	share := state.Share{Owner: "jti:victim", Max: 100}

	exp := time.Now().Add(time.Minute) // the assertion's exp + skew
	if fresh, err := b.Once(ctx, share, "jti-1", exp); err != nil || !fresh {
		t.Fatalf("first use: %v %v", fresh, err)
	}
	if _, err := b.Once(ctx, state.Share{Owner: "revoked:victim", Max: 100}, "tok-1", exp); err != nil {
		t.Fatal(err)
	}

	// Replica A, clock 2 minutes ahead, records the same client's next jti
	// and a revocation: its exp values are 2 minutes ahead too.
	a := state.NewRedis(c, "tb:")
	ahead := time.Now().Add(2 * time.Minute)
	for _, owner := range []string{"jti:victim", "revoked:victim"} {
		if _, err := a.Once(ctx, state.Share{Owner: owner, Max: 100}, "other", ahead.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}

	// Back on replica B, well within the jti's lifetime.
	if fresh, err := b.Once(ctx, share, "jti-1", exp); err != nil || fresh {
		t.Errorf("a spent jti was accepted again after a skewed replica's write: fresh=%v err=%v", fresh, err)
	}
	if has, err := b.Has(ctx, "revoked:victim", "tok-1"); err != nil || !has {
		t.Errorf("a live revocation was forgotten after a skewed replica's write: has=%v err=%v", has, err)
	}
}
