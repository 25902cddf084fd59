// Package statetest holds what tests of the shared state share: the
// state.Store conformance suite, run against every implementation, and a
// real redis-server to run it on.
//
//	func TestRedisConformance(t *testing.T) {
//		addr, _ := statetest.StartRedis(t)
//		c := redis.NewClient(&redis.Options{Addr: addr})
//		n := 0
//		statetest.Conformance(t, func(*testing.T) state.Store {
//			n++
//			return state.NewRedis(c, fmt.Sprintf("t%d:", n))
//		})
//	}
package statetest
