package broker

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenbroker/tokenbroker/backends/state"
)

// metrics are the broker's Prometheus series, on the admin listener.
type metrics struct {
	reg      *prometheus.Registry
	issued   *prometheus.CounterVec
	failures *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	limited  *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.issued = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_tokens_issued_total", Help: "Access tokens issued."}, []string{"client_id", "method"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_token_failures_total", Help: "Refused token requests by OAuth error and attempted method."}, []string{"method", "reason"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tokenbroker_token_request_duration_seconds", Help: "Token endpoint latency.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"outcome"})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_rate_limited_total", Help: "Requests refused by a rate limit."}, []string{"limit"})
	m.reg.MustRegister(m.issued, m.failures, m.latency, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stat := func(name, help string, f func() float64, counter bool) {
		if counter {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
		} else {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	stat("tokenbroker_backend_cache_hits_total", "Client lookups answered from the cache.", func() float64 { return float64(s.clients.Stats().Hits) }, true)
	stat("tokenbroker_backend_cache_misses_total", "Client lookups that went to the backend.", func() float64 { return float64(s.clients.Stats().Misses) }, true)
	stat("tokenbroker_backend_cache_stale_total", "Client lookups served from stale data while the backend failed.", func() float64 { return float64(s.clients.Stats().Stale) }, true)
	stat("tokenbroker_backend_errors_total", "Failed backend loads.", func() float64 { return float64(s.clients.Stats().LoadErrors) }, true)
	stat("tokenbroker_backend_cache_entries", "Clients in the cache.", func() float64 { return float64(s.clients.Stats().Entries) }, false)
	stat("tokenbroker_backend_degraded", "1 while client data may be served stale.", func() float64 {
		if s.Degraded() {
			return 1
		}
		return 0
	}, false)
	if mem, ok := s.state.(*state.Memory); ok {
		stat("tokenbroker_shared_state_keys", "Keys in the in-memory shared state (assertion jti replay cache and revocations).", func() float64 { return float64(mem.Len()) }, false)
	}
	return m
}

// pinger is implemented by shared state that can be down (Redis).
type pinger interface {
	Ping(ctx context.Context) error
}

// AdminHandler serves /metrics, /healthz and /readyz, for a separate admin listener.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	// Profiling, for finding where the time goes (the admin listener is loopback by default).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/heap", pprof.Index)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := s.Ready(r.Context()); !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// Ready reports whether the broker serves fresh data and its shared state answers.
func (s *Server) Ready(ctx context.Context) (bool, string) {
	if s.Degraded() {
		return false, "degraded: client data may be stale"
	}
	if p, ok := s.state.(pinger); ok {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			return false, "shared state unavailable: assertions are refused (fail closed)"
		}
	}
	return true, ""
}
