package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// Metrics receives a remote signer's measurements (AWS KMS): the process's
// series, so they keep counting across reloads.
var _ signing.Observer = (*Metrics)(nil)

func (m *Metrics) registerSigning() {
	m.signCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tokenbroker_signing_call_duration_seconds", Help: "Calls to a remote signer (aws-kms Sign) by outcome: ok, throttled, error.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"source", "outcome"})
	m.signThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_signing_throttled_total", Help: "Remote signer calls refused by the remote's quota (ThrottlingException)."}, []string{"source"})
	m.signRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokenbroker_signing_refused_total", Help: "Signatures refused without a call (503): queue_full, deadline, backoff."}, []string{"source", "reason"})
	m.signQueue = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tokenbroker_signing_queue_depth", Help: "Signatures waiting for a slot toward the remote signer."}, []string{"source"})
	m.reg.MustRegister(m.signCalls, m.signThrottled, m.signRefused, m.signQueue)
}

// SignCall implements signing.Observer.
func (m *Metrics) SignCall(source string, d time.Duration, outcome string) {
	m.signCalls.WithLabelValues(source, outcome).Observe(d.Seconds())
	if outcome == "throttled" {
		m.signThrottled.WithLabelValues(source).Inc()
	}
}

// Queued implements signing.Observer.
func (m *Metrics) Queued(source string, delta int) {
	m.signQueue.WithLabelValues(source).Add(float64(delta))
}

// Refused implements signing.Observer.
func (m *Metrics) Refused(source, reason string) { m.signRefused.WithLabelValues(source, reason).Inc() }
