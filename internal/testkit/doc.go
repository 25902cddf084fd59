// Package testkit holds the two helpers that replace fixed sleeps in tests:
// a manual Clock for code that takes a clock option (time passes only when
// the test says so) and WaitFor, a poll with a deadline for waiting on a
// real process or goroutine (a loaded machine is slow, never wrong).
//
//	clk := testkit.NewClock(time.Now())
//	c := cache.New(load, cache.Options{TTL: time.Minute, Now: clk.Now})
//	clk.Advance(2 * time.Minute) // the entry is stale now, no sleeping
//
//	testkit.WaitFor(t, "the listener", func() bool {
//		c, err := net.Dial("tcp", addr)
//		if err == nil {
//			c.Close()
//		}
//		return err == nil
//	})
package testkit
