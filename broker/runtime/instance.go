package runtime

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// instance is one configured broker: its wiring and server.
type instance struct {
	w   *wiring
	srv *broker.Server
}

func (i *instance) close() {
	i.srv.Close()
	i.w.Close()
}

// startInstance builds the wiring and the server for fc over the
// process's shared state, limiter, audit writer and metrics.
func startInstance(ctx context.Context, proc *process, fc *config.Config, logOut io.Writer) (*instance, error) {
	w, err := open(ctx, proc, fc, logOut)
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	if created, err := w.signing.Ensure(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("signing keys: %w", err)
	} else if created {
		w.log.Info("created new signing keys", "source", fc.Signing.Type, "alg", w.cfg.SigningAlg)
	}
	srv, err := broker.New(ctx, w.cfg, w.store, broker.WithCache(w.cacheOpt))
	if err != nil {
		w.Close()
		return nil, err
	}
	return &instance{w: w, srv: srv}, nil
}

// Reload re-reads the configuration and the certificates (SIGHUP). A new
// instance replaces the current one for new requests; the old one finishes
// what it has and is closed after a grace period. On any error the current
// instance stays. Both instances share the process parts: the replay cache,
// revocations, rate buckets, metrics and the audit writer survive. Listen
// addresses, shared_state and audit (but audit.fail_closed) need a restart.
func (r *Runtime) Reload(ctx context.Context) {
	old := r.cur.Load()
	log := old.w.log
	if err := r.proc.reopenAudit(); err != nil {
		log.Error("SIGHUP: reopening the audit file", "err", err)
	}
	fc, err := r.load()
	if err == nil {
		r.warnRestart(fc)
	}
	var next *instance
	if err == nil {
		next, err = startInstance(ctx, r.proc, fc, r.logOut)
	}
	if err != nil {
		log.Error("SIGHUP: reload failed; keeping the running configuration", "err", err)
		old.w.reloadNow(ctx) // certificates, CA bundles and CRLs at least
		return
	}
	r.cur.Store(next)
	next.w.log.Info("SIGHUP: configuration, certificates, CA bundles and CRLs reloaded")
	go func() {
		time.Sleep(30 * time.Second) // in-flight requests of the old instance finish
		old.close()
	}()
}

// warnRestart logs the settings in fc that a reload cannot apply.
func (r *Runtime) warnRestart(fc *config.Config) {
	log := r.cur.Load().w.log
	fc.SetDefaults()
	if fc.Listen != r.fc.Listen || fc.MTLS.Listen != r.fc.MTLS.Listen || fc.Admin.Listen != r.fc.Admin.Listen {
		log.Warn("SIGHUP: listen addresses changed; they take effect after a restart")
	}
	if keys := r.proc.needsRestart(fc); len(keys) > 0 {
		log.Warn("SIGHUP: these settings changed; they take effect after a restart", "keys", keys)
	}
}
