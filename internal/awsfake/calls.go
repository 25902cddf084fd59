package awsfake

import "sync"

// Calls counts requests per operation; the zero value is ready and safe for
// concurrent use.
type Calls struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one request for op.
func (c *Calls) Add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
}

// Get returns how many requests for op arrived; "" counts all.
func (c *Calls) Get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op != "" {
		return c.n[op]
	}
	total := 0
	for _, k := range c.n {
		total += k
	}
	return total
}
