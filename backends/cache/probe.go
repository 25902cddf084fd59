package cache

// startProbe runs the background probe unless one is running: while the
// backend is down it retries the last key whose load failed every
// RetryBackoff, so Degraded clears when the backend is back even if no
// request arrives (a load balancer that stopped routing sends none).
func (c *Cache[V]) startProbe() {
	if !c.probing.CompareAndSwap(false, true) {
		return
	}
	if !c.background(c.probe) {
		c.probing.Store(false)
	}
}

func (c *Cache[V]) probe() {
	for {
		for c.degraded.Load() {
			select {
			case <-c.ctx.Done():
				c.probing.Store(false)
				return
			case <-c.opt.After(c.opt.RetryBackoff):
			}
			if k := c.lastFailed.Load(); k != nil {
				_, _ = c.fetch(c.ctx, *k)
			}
		}
		c.probing.Store(false)
		// A load may have failed after the check above and found the probe
		// still running: take over again rather than leave it unprobed.
		if !c.degraded.Load() || !c.probing.CompareAndSwap(false, true) {
			return
		}
	}
}
