package refresh

import (
	"context"
	"time"
)

// Loop is a background refresh started by Every.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Every calls fn every interval in a goroutine of its own until ctx is done
// or Stop is called. The first call comes one interval after Every (the
// owner has loaded once already); calls never overlap, and a slow one delays
// the next rather than piling up. The context fn receives is cancelled by
// Stop, so a load in progress ends with it.
//
// An interval ≤ 0 starts nothing and returns nil, which Stop accepts: an
// owner configured not to refresh needs no branch of its own.
func Every(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) *Loop {
	if interval <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A tick and Stop may be ready together: never start a load
				// after Stop was called.
				if ctx.Err() == nil {
					fn(ctx)
				}
			}
		}
	}()
	return l
}

// Stop ends the loop and waits for a call in progress to return. It is safe
// to call twice, from several goroutines at once, and on a nil Loop.
func (l *Loop) Stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}
