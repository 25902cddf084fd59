package broker

import (
	"net/http"
	"net/http/pprof"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// Metrics are the broker's Prometheus series, served on the admin handler.
// Create one per process (NewMetrics) and hand it to every Server through
// Config.Metrics: a server built by a configuration reload attaches to the
// same series, so counters keep counting across reloads.
type Metrics struct {
	reg           *prometheus.Registry
	issued        *prometheus.CounterVec
	failures      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	limited       *prometheus.CounterVec
	auditFailures prometheus.Counter
	signCalls     *prometheus.HistogramVec
	signThrottled *prometheus.CounterVec
	signRefused   *prometheus.CounterVec
	signQueue     *prometheus.GaugeVec

	mu       sync.Mutex
	servers  []*Server   // attached, newest last
	detached cache.Stats // cache counters of closed servers
	memState sync.Once
}

// NewMetrics registers the broker's series and the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.issued = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_tokens_issued_total", Help: "Access tokens issued."}, []string{"client_id", "method"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_token_failures_total", Help: "Refused token requests by OAuth error and attempted method."}, []string{"method", "reason"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tokenbroker_token_request_duration_seconds", Help: "Token endpoint latency.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"outcome"})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_rate_limited_total", Help: "Requests refused by a rate limit."}, []string{"limit"})
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "tokenbroker_audit_write_failures_total", Help: "Audit events that could not be written."})
	m.registerSigning()
	m.reg.MustRegister(m.issued, m.failures, m.latency, m.limited, m.auditFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stat := func(name, help string, f func(cache.Stats) float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(m.cacheStats()) }))
	}
	stat("tokenbroker_backend_cache_hits_total", "Client lookups answered from the cache.", func(s cache.Stats) float64 { return float64(s.Hits) })
	stat("tokenbroker_backend_cache_misses_total", "Client lookups that went to the backend.", func(s cache.Stats) float64 { return float64(s.Misses) })
	stat("tokenbroker_backend_cache_stale_total", "Client lookups served from stale data while the backend failed.", func(s cache.Stats) float64 { return float64(s.Stale) })
	stat("tokenbroker_backend_errors_total", "Failed backend loads.", func(s cache.Stats) float64 { return float64(s.LoadErrors) })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokenbroker_backend_cache_entries", Help: "Clients in the cache."}, func() float64 {
		if s := m.current(); s != nil {
			return float64(s.clients.Stats().Entries)
		}
		return 0
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokenbroker_backend_degraded", Help: "1 while client data may be served stale."}, func() float64 {
		if s := m.current(); s != nil && s.Degraded() {
			return 1
		}
		return 0
	}))
	m.reg.MustRegister(spiffeCollector{m})
	return m
}

// spiffeBundleAge is the age of each SPIFFE trust domain's bundle: a bundle
// that stops refreshing keeps serving (last good), so its age is what an
// alert watches.
var spiffeBundleAge = prometheus.NewDesc("tokenbroker_spiffe_bundle_age_seconds",
	"Seconds since the SPIFFE trust domain's bundle was last loaded (refreshes keep the last good bundle on failure).", []string{"trust_domain"}, nil)

// spiffeCollector reports the current server's SPIFFE bundles.
type spiffeCollector struct{ m *Metrics }

func (spiffeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- spiffeBundleAge }

func (c spiffeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.current()
	if s == nil || s.cfg.SPIFFEBundles == nil {
		return
	}
	for _, st := range s.cfg.SPIFFEBundles.Status() {
		ch <- prometheus.MustNewConstMetric(spiffeBundleAge, prometheus.GaugeValue, st.Age.Seconds(), st.TrustDomain)
	}
}

// attach makes s the server whose cache and shared state the gauges show.
func (m *Metrics) attach(s *Server) {
	m.mu.Lock()
	m.servers = append(m.servers, s)
	m.mu.Unlock()
	if mem, ok := s.state.(*state.Memory); ok {
		// The shared state is the process's: register its gauge once.
		m.memState.Do(func() {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tokenbroker_shared_state_keys",
				Help: "Keys in the in-memory shared state (assertion jti replay cache and revocations)."}, func() float64 { return float64(mem.Len()) }))
		})
	}
}

// detach folds a closing server's cache counters into the totals, so they
// never go backwards when a reload replaces the cache.
func (m *Metrics) detach(s *Server) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, a := range m.servers {
		if a == s {
			st := s.clients.Stats()
			m.detached.Hits += st.Hits
			m.detached.Misses += st.Misses
			m.detached.Stale += st.Stale
			m.detached.LoadErrors += st.LoadErrors
			m.servers = append(m.servers[:i], m.servers[i+1:]...)
			return
		}
	}
}

func (m *Metrics) current() *Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.servers) == 0 {
		return nil
	}
	return m.servers[len(m.servers)-1]
}

// cacheStats sums the cache counters of every server this process has run.
func (m *Metrics) cacheStats() cache.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.detached
	for _, s := range m.servers {
		st := s.clients.Stats()
		t.Hits += st.Hits
		t.Misses += st.Misses
		t.Stale += st.Stale
		t.LoadErrors += st.LoadErrors
	}
	return t
}

// AdminHandler serves /metrics, /healthz and /readyz — and /debug/pprof/
// when Config.Pprof is set — for a separate admin listener.
func (s *Server) AdminHandler() http.Handler { return s.admin }

func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	if s.cfg.Pprof {
		// Profiling, for finding where the time goes; opt-in (admin.pprof).
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		code, body := s.readiness(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		w.Write([]byte(body))
	})
	return mux
}
