package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// Loader reads the configuration: at start, and again on every SIGHUP.
type Loader func() (*config.Config, error)

// Runtime is one serving process: it owns what outlives a reload — the
// listeners, the shared state and limiter, the audit writer, the metrics —
// and the current instance (the broker built from the newest good
// configuration), which a reload swaps.
type Runtime struct {
	proc   *process
	load   Loader
	fc     *config.Config // the configuration the process started with
	logOut io.Writer
	cur    atomic.Pointer[instance]

	ln, mln, aln net.Listener
}

// New loads the configuration, checks every key before opening anything,
// then opens the process parts, builds the first instance and opens the
// listeners. logOut receives the broker's log. The caller runs it with Run
// and releases it with Close.
func New(ctx context.Context, load Loader, logOut io.Writer) (*Runtime, error) {
	fc, err := load()
	if err != nil {
		return nil, err
	}
	if _, err := settings(fc, io.Discard); err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	proc, err := openProcess(ctx, fc)
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	r := &Runtime{proc: proc, load: load, fc: fc, logOut: logOut}
	first, err := startInstance(ctx, proc, fc, logOut)
	if err != nil {
		proc.Close()
		return nil, err
	}
	r.cur.Store(first)
	if proc.auditErr != nil {
		first.w.log.Error("audit trail opened, but", "err", proc.auditErr)
	}
	if err := r.listen(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// listen opens the listeners: the main one, the mTLS alias and the admin one.
func (r *Runtime) listen() error {
	var err error
	if r.ln, err = net.Listen("tcp", r.fc.Listen); err != nil {
		return err
	}
	if r.fc.MTLS.Listen != "" {
		if r.mln, err = net.Listen("tcp", r.fc.MTLS.Listen); err != nil {
			return config.Errorf("mtls.listen", "%w", err)
		}
	}
	if r.fc.Admin.Listen != "" {
		if r.aln, err = net.Listen("tcp", r.fc.Admin.Listen); err != nil {
			return config.Errorf("admin.listen", "%w", err)
		}
	}
	return nil
}

// Issuer is the issuer of the current configuration.
func (r *Runtime) Issuer() string { return r.cur.Load().w.cfg.Issuer }

// Close closes the listeners that Run did not, the current instance and
// the process parts.
func (r *Runtime) Close() {
	for _, l := range []net.Listener{r.ln, r.mln, r.aln} {
		if l != nil {
			l.Close()
		}
	}
	if i := r.cur.Load(); i != nil {
		i.close()
	}
	r.proc.Close()
}

// Run serves until ctx ends. Requests and TLS handshakes always go to the
// current instance, so a SIGHUP swaps configuration without dropping a
// connection.
func (r *Runtime) Run(ctx context.Context) error {
	log := r.cur.Load().w.log
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.cur.Load().srv.Handler().ServeHTTP(w, req) })
	getCert := func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cur.Load().w.getCertificate(h) }
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				r.Reload(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	if r.aln != nil {
		admin := NewAdminServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.cur.Load().srv.AdminHandler().ServeHTTP(w, req) }))
		go admin.Serve(r.aln)
		defer admin.Close()
		log.Info("admin listening", "addr", r.aln.Addr().String(), "paths", "/metrics /healthz /readyz")
	}
	errc := make(chan error, 2)
	go func() { errc <- broker.Serve(ctx, r.ln, broker.TLSConfig(getCert, false), handler, log) }()
	log.Info("listening", "addr", r.ln.Addr().String(), "issuer", r.Issuer())
	n := 1
	if r.mln != nil {
		n++
		go func() { errc <- broker.Serve(ctx, r.mln, broker.TLSConfig(getCert, true), handler, log) }()
		log.Info("listening (client certificate required)", "addr", r.mln.Addr().String(), "alias", r.cur.Load().w.cfg.MTLSBaseURL)
	}
	var errs []error
	for range n {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// NewAdminServer is the admin listener's server: plain HTTP, so every
// timeout is set — a slow or idle client must not hold a connection open
// (the write timeout leaves room for a 30 s CPU profile).
func NewAdminServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
