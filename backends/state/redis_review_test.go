package state

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// REVIEW: the Redis store judges expiry by each replica's own wall clock (the
// script's "now" is the caller's time.Now(), and ZREMRANGEBYSCORE drops every
// member of the owner's set whose exp ≤ that now). Before, SET NX PX let the
// Redis server expire keys. A replica whose clock runs ahead (here 2 minutes)
// purges the other replicas' live jtis and revocations at its next Once for
// that owner, so a spent assertion is accepted again by a correct replica,
// and a revoked token reads as not revoked (Has).
//
// The skewed replica is simulated by running the store's own script with its
// clock (the only thing that differs between two Redis.Once calls).
func TestReviewRedisSharesSurviveReplicaClockSkew(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 250 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	b := NewRedis(c, "tb:") // replica B, correct clock
	share := Share{Owner: "jti:victim", Max: 100}

	exp := time.Now().Add(time.Minute) // the assertion's exp + skew
	if fresh, err := b.Once(ctx, share, "jti-1", exp); err != nil || !fresh {
		t.Fatalf("first use: %v %v", fresh, err)
	}
	if _, err := b.Once(ctx, Share{Owner: "revoked:victim", Max: 100}, "tok-1", exp); err != nil {
		t.Fatal(err)
	}

	// Replica A, clock 2 minutes ahead, records the same client's next jti
	// and a revocation — exactly the call its Redis.Once makes.
	ahead := time.Now().Add(2 * time.Minute)
	for _, owner := range []string{"jti:victim", "revoked:victim"} {
		if _, err := once.Run(ctx, c, []string{b.shareKey(owner)}, "other", ahead.UnixMilli(), ahead.Add(time.Minute).UnixMilli(), 100).Int64(); err != nil {
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
