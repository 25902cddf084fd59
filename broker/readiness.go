package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Readiness errors: the public reason a broker is not ready, for a load
// balancer's /readyz and for the log.
var (
	// ErrDegraded: the backend failed its last load; client data may be stale.
	ErrDegraded = errors.New("degraded: client data may be stale")
	// ErrSharedStateDown: the shared state (Redis) does not answer, so
	// assertions are refused (fail closed) and revocations cannot be recorded.
	ErrSharedStateDown = errors.New("shared state unavailable: assertions are refused (fail closed)")
)

// stateCheckTTL is how long a shared-state ping answers readiness: a /readyz
// flood costs Redis at most one ping a second per replica.
const stateCheckTTL = time.Second

// pinger is implemented by shared state that can be down (Redis).
type pinger interface {
	Ping(ctx context.Context) error
}

// Ready reports whether the broker can serve: client data is fresh (the
// client cache is not degraded: its background probe clears that when the
// backend is back) and the shared state answers a ping (cached for a
// second, one ping at a time). The public and the admin /readyz both answer
// from it. The error is ErrDegraded or wraps ErrSharedStateDown.
func (s *Server) Ready(ctx context.Context) error {
	if s.Degraded() {
		return ErrDegraded
	}
	if err := s.ready.check(ctx, s.state); err != nil {
		return fmt.Errorf("%w: %w", ErrSharedStateDown, err)
	}
	return nil
}

// readiness is the /readyz answer: status and a body that names the reason
// but never the internal cause (an address, an error from Redis).
func (s *Server) readiness(ctx context.Context) (int, string) {
	err := s.Ready(ctx)
	switch {
	case err == nil:
		return http.StatusOK, "ready\n"
	case errors.Is(err, ErrSharedStateDown):
		return http.StatusServiceUnavailable, ErrSharedStateDown.Error() + "\n"
	case errors.Is(err, ErrDegraded):
		return http.StatusServiceUnavailable, ErrDegraded.Error() + "\n"
	}
	return http.StatusServiceUnavailable, "not ready\n"
}

// stateProbe caches the shared state's last ping and lets one caller ping
// at a time (single-flight); the others wait for its answer (or their own
// context).
type stateProbe struct {
	flight singleflight.Group
	mu     sync.Mutex
	at     time.Time
	err    error
}

func (p *stateProbe) check(ctx context.Context, st any) error {
	pg, ok := st.(pinger)
	if !ok {
		return nil // in memory: always there
	}
	if fresh, err := p.cached(); fresh {
		return err
	}
	ch := p.flight.DoChan("ping", func() (any, error) {
		if fresh, err := p.cached(); fresh { // a ping ended since the check above
			return nil, err
		}
		// The ping outlives a caller that gives up: the others wait for it.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err := pg.Ping(pctx)
		cancel()
		p.mu.Lock()
		p.at, p.err = time.Now(), err
		p.mu.Unlock()
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cached returns the last ping's answer while it is younger than stateCheckTTL.
func (p *stateProbe) cached() (fresh bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.at.IsZero() && time.Since(p.at) < stateCheckTTL, p.err
}
