package state_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

// BenchmarkRedisOnce measures what a jti write costs the broker process
// (cpu-µs/op from getrusage; the Redis server's CPU is not counted) with 32
// concurrent callers, as under load: batched (the default) and one round
// trip per call.
func BenchmarkRedisOnce(b *testing.B) {
	addr, _ := statetest.StartRedis(b)
	var n atomic.Int64 // across the benchmark's reruns: every key is new
	for _, batched := range []bool{true, false} {
		b.Run(map[bool]string{true: "batched", false: "unbatched"}[batched], func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
			defer c.Close()
			r := state.NewRedis(c, fmt.Sprintf("bench%v:", batched))
			defer r.Close()
			if !batched {
				state.NoBatch(r)
			}
			exp := time.Now().Add(time.Minute)
			b.SetParallelism(16) // 32 callers on 2 cores
			start := cpu()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					ok, err := r.Once(context.Background(), state.Share{Owner: fmt.Sprint("o", i%50), Max: 1 << 30}, fmt.Sprint(i), exp)
					if !ok || err != nil {
						b.Errorf("once %d: %v %v", i, ok, err)
						return
					}
				}
			})
			b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
