package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// ErrMalformedCertHeader: a trusted proxy's certificate header did not parse.
var ErrMalformedCertHeader = errors.New("malformed client certificate header")

// FromRequest returns the certificate chain the caller of r presented: from
// the certificate header of a trusted proxy when the TCP peer is one (never
// the proxy's own TLS certificate), else from this connection's TLS
// handshake. A certificate header from any other peer is refused with
// ErrUntrustedCertHeader: it can only be a spoof (RFC 9440 §4). proxy may be
// nil (no proxy is trusted). It returns nil, nil when no certificate was
// presented.
//
// The token endpoint and the resource middleware both read the certificate
// here. A handshake chain is derived once per connection when the server's
// ConnContext is ConnContext.
func FromRequest(r *http.Request, proxy *ProxyExtractor) (*Presented, error) {
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && proxy.Trusted(peer.Addr()) {
		chain, err := proxy.Extract(r.Header)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedCertHeader, err)
		}
		return NewPresented(chain), nil
	}
	if proxy.HasCertHeader(r.Header) {
		return nil, ErrUntrustedCertHeader
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return connPresented(r.Context(), r.TLS.PeerCertificates), nil
	}
	return nil, nil
}

// connMemoKey is the context key of a connection's connMemo.
type connMemoKey struct{}

// connMemo holds what was derived from one TLS connection's client chain
// (hashes, subject), so keep-alive requests do not derive it again.
type connMemo struct {
	mu   sync.Mutex
	leaf *x509.Certificate
	p    *Presented
}

// ConnContext gives every connection a memo for its client certificate
// chain, which FromRequest fills on first use; it is http.Server's
// ConnContext.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connMemoKey{}, &connMemo{})
}

// connPresented returns the Presented of chain, this connection's
// handshake chain, from the connection's memo when there is one.
func connPresented(ctx context.Context, chain []*x509.Certificate) *Presented {
	m, _ := ctx.Value(connMemoKey{}).(*connMemo)
	if m == nil {
		return NewPresented(chain)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaf != chain[0] { // a renegotiation-free TLS connection keeps one chain; check anyway
		m.leaf, m.p = chain[0], NewPresented(chain)
	}
	return m.p
}
