package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"github.com/tokenbroker/tokenbroker/certs"
)

// tlsRequest is a request on the connection whose context is ctx, its
// handshake having presented chain.
func tlsRequest(ctx context.Context, chain ...*x509.Certificate) *http.Request {
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: chain}
	return r
}

// TestConnMemo: a connection derives its chain's Presented once, and never
// answers with another chain's.
func TestConnMemo(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	a, b := issue(t, ca, certs.Leaf{CommonName: "a", Client: true}), issue(t, ca, certs.Leaf{CommonName: "b", Client: true})
	from := func(r *http.Request) *certs.Presented {
		t.Helper()
		p, err := certs.FromRequest(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := certs.ConnContext(context.Background(), nil)
	pa := from(tlsRequest(ctx, a))
	if again := from(tlsRequest(ctx, a)); again != pa {
		t.Error("the same chain on the same connection was derived twice")
	}
	pb := from(tlsRequest(ctx, b))
	if pb == pa || pb.Leaf() != b || pb.Subject() != "CN=b" {
		t.Errorf("another chain got %+v", pb)
	}
	if other := from(tlsRequest(certs.ConnContext(context.Background(), nil), a)); other == pa {
		t.Error("connections share a memo")
	}
	if p := from(tlsRequest(context.Background(), a)); p == nil || p.Thumbprint != pa.Thumbprint {
		t.Error("without a memo the chain is still derived")
	}
}

// TestFromRequest: a certificate header counts only from a trusted proxy; a
// header from any other peer is refused, whatever its name.
func TestFromRequest(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "via proxy", Client: true})
	direct := issue(t, ca, certs.Leaf{CommonName: "direct", Client: true})
	header := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))
	px, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatNginx, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		proxy         *certs.ProxyExtractor
		remote        string
		header, value string
		tls           bool
		want          *x509.Certificate
		wantErr       error
	}{
		{name: "trusted proxy, header", proxy: px, remote: "10.0.0.5:4000", header: "X-SSL-Client-Cert", value: header, want: leaf},
		{name: "trusted proxy, header wins over the proxy's own certificate", proxy: px, remote: "10.0.0.5:4000", header: "X-SSL-Client-Cert", value: header, tls: true, want: leaf},
		{name: "trusted proxy, no header", proxy: px, remote: "10.0.0.5:4000", tls: true},
		{name: "trusted proxy, malformed header", proxy: px, remote: "10.0.0.5:4000", header: "X-SSL-Client-Cert", value: "garbage", wantErr: certs.ErrMalformedCertHeader},
		{name: "untrusted peer, configured header", proxy: px, remote: "10.0.0.6:4000", header: "X-SSL-Client-Cert", value: header, tls: true, wantErr: certs.ErrUntrustedCertHeader},
		{name: "untrusted peer, another known header", proxy: px, remote: "10.0.0.6:4000", header: "Client-Cert", value: ":AA==:", wantErr: certs.ErrUntrustedCertHeader},
		{name: "no proxy configured, header", remote: "10.0.0.5:4000", header: "X-Forwarded-Client-Cert", value: "Cert=x", wantErr: certs.ErrUntrustedCertHeader},
		{name: "handshake", proxy: px, remote: "10.0.0.6:4000", tls: true, want: direct},
		{name: "handshake, no proxy configured", remote: "10.0.0.6:4000", tls: true, want: direct},
		{name: "nothing presented", proxy: px, remote: "10.0.0.6:4000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
			}
			if tc.tls {
				// From a trusted proxy, this is the proxy's own certificate: never the client's.
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{direct}}
			}
			p, err := certs.FromRequest(r, tc.proxy)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr != nil) != (err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			switch {
			case tc.want == nil && p != nil:
				t.Fatalf("got %s, want no certificate", p.Subject())
			case tc.want != nil && (p == nil || !p.Leaf().Equal(tc.want)):
				t.Fatalf("got %+v, want %s", p, tc.want.Subject)
			}
		})
	}
}

// FuzzFromRequest: whatever the headers, a certificate header from an
// untrusted peer is refused and never read, and a trusted proxy's header
// yields a certificate or an error, never both and never the handshake's.
func FuzzFromRequest(f *testing.F) {
	ca := testCA(f)
	direct := issue(f, ca, certs.Leaf{CommonName: "direct", Client: true})
	via := issue(f, ca, certs.Leaf{CommonName: "via proxy", Client: true})
	px, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatXFCC, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("X-Forwarded-Client-Cert", `Cert="`+url.PathEscape(pemOf(via))+`"`, true)
	f.Add("Client-Cert", ":AA==:", false)
	f.Add("x-ssl-client-cert", "%", true)
	f.Add("Authorization", "Bearer x", false)
	f.Fuzz(func(t *testing.T, name, value string, trusted bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:4000"
		if trusted {
			r.RemoteAddr = "10.1.2.3:4000"
		}
		if name != "" && http.CanonicalHeaderKey(name) != "" {
			r.Header.Set(name, value)
		}
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{direct}}
		p, err := certs.FromRequest(r, px)
		if err != nil && p != nil {
			t.Fatal("a certificate and an error")
		}
		if trusted {
			if p != nil && p.Leaf() == direct {
				t.Fatal("a trusted proxy's own certificate taken for the client's")
			}
			return
		}
		if px.HasCertHeader(r.Header) {
			if !errors.Is(err, certs.ErrUntrustedCertHeader) {
				t.Fatalf("header %q from an untrusted peer: %v %v", name, p, err)
			}
		} else if err != nil || p == nil || p.Leaf() != direct {
			t.Fatalf("handshake certificate lost: %v %v", p, err)
		}
	})
}
