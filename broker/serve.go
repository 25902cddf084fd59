package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// TLSConfig returns the server TLS configuration: TLS 1.2 minimum (1.3
// preferred by the Go stack), the certificate from getCert (so it can be
// reloaded), and a client certificate requested — or, for the RFC 8705 §5
// mTLS alias listener, required. The chain is never checked by the TLS
// layer: the broker checks it against the client's registration (RFC 8705 §2),
// which also lets self-signed certificates through to be matched.
//
// TLS 1.2 is limited to ECDHE key exchange with AEAD ciphers (RFC 9325 §4.2):
// Go's defaults would still negotiate the CBC-SHA1 suites. TLS 1.3 suites are
// not configurable and all qualify.
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), requireClientCert bool) *tls.Config {
	auth := tls.RequestClientCert
	if requireClientCert {
		auth = tls.RequireAnyClientCert
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
		GetCertificate: getCert,
		ClientAuth:     auth,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// tls12Suites are the TLS 1.2 suites offered: forward secrecy and AEAD only.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// StaticCertificate adapts one certificate to TLSConfig.
func StaticCertificate(c tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c, nil }
}

// Serve serves HTTPS on ln until ctx ends, then shuts down gracefully,
// letting in-flight requests finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	return Serve(ctx, ln, tlsCfg, s.echo, s.log)
}

// Serve serves h over HTTPS on ln with the broker's limits (header and
// read/write timeouts) until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, tlsCfg *tls.Config, h http.Handler, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ConnContext:       certs.ConnContext,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, tlsCfg)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
