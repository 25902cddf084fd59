package spiffetest

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

// Endpoint is a SPIFFE bundle endpoint (SPIFFE Federation §4) on loopback
// over TLS, whose certificate and bundle a test can change while it runs.
type Endpoint struct {
	// URL is the bundle's URL (https://127.0.0.1:port/bundle).
	URL string
	srv *http.Server

	mu     sync.Mutex
	cert   tls.Certificate
	bundle func() ([]byte, error)
}

// NewEndpoint serves bundle() with cert on a loopback port until Close.
func NewEndpoint(cert tls.Certificate, bundle func() ([]byte, error)) (*Endpoint, error) {
	e := &Endpoint{cert: cert, bundle: bundle}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		f := e.bundle
		e.mu.Unlock()
		b, err := f()
		if err != nil || r.URL.Path != "/bundle" {
			http.Error(w, "no bundle", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		c := e.cert
		return &c, nil
	}}
	go func() { _ = e.srv.Serve(tls.NewListener(ln, cfg)) }()
	e.URL = "https://" + ln.Addr().String() + "/bundle"
	return e, nil
}

// SetCertificate changes the certificate the endpoint presents.
func (e *Endpoint) SetCertificate(c tls.Certificate) { e.mu.Lock(); e.cert = c; e.mu.Unlock() }

// SetBundle changes what the endpoint serves.
func (e *Endpoint) SetBundle(f func() ([]byte, error)) { e.mu.Lock(); e.bundle = f; e.mu.Unlock() }

// Close stops the endpoint.
func (e *Endpoint) Close() { _ = e.srv.Close() }
