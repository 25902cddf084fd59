package certs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/refresh"
)

// Reloader holds a value built from files and rebuilds it when any file's
// modification time or size changes, so certificates, CA bundles and CRLs
// can be replaced without a restart. A failed rebuild keeps (and logs) the
// last good value.
type Reloader[T any] struct {
	paths []string
	load  func() (T, error)
	log   *slog.Logger
	cur   atomic.Pointer[T]
	mu    sync.Mutex // serializes Check
	stamp string
	loop  *refresh.Loop
}

// NewReloader loads the value once (which must succeed) and then checks the
// files every interval (no polling when interval is 0).
func NewReloader[T any](paths []string, load func() (T, error), interval time.Duration, log *slog.Logger) (*Reloader[T], error) {
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader[T]{paths: paths, load: load, log: log}
	v, err := load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(&v)
	r.stamp = r.fileStamp()
	r.loop = refresh.Every(context.Background(), interval, func(context.Context) { r.Check() })
	return r, nil
}

// Get returns the current value.
func (r *Reloader[T]) Get() T { return *r.cur.Load() }

// Check reloads when the files changed; it reports whether a new value is in use.
func (r *Reloader[T]) Check() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.fileStamp()
	if st == r.stamp {
		return false
	}
	v, err := r.load()
	if err != nil {
		r.log.Warn("reload failed; keeping the previous value", "files", r.paths, "err", err)
		return false
	}
	r.cur.Store(&v)
	r.stamp = st
	r.log.Info("reloaded", "files", r.paths)
	return true
}

func (r *Reloader[T]) fileStamp() string {
	var b strings.Builder
	for _, p := range r.paths {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, fi.ModTime().UnixNano(), fi.Size())
		} else {
			fmt.Fprintf(&b, "%s:missing;", p)
		}
	}
	return b.String()
}

// Close stops polling; safe to call twice.
func (r *Reloader[T]) Close() error {
	r.loop.Stop()
	return nil
}
