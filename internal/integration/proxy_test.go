package integration_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// proxyAddr is the loopback address the tests' "proxy" connects from; the
// broker trusts it and nothing else.
const proxyAddr = "127.0.0.2"

func withProxy(format string) envOpt {
	return func(c *broker.Config, _ *cache.Options) {
		px, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: format, Trusted: []netip.Prefix{netip.MustParsePrefix(proxyAddr + "/32")}})
		if err != nil {
			panic(err)
		}
		c.Proxy = px
	}
}

// fromAddr returns an HTTP client whose connections come from local address ip.
func (e *env) fromAddr(ip string, cert *tls.Certificate) *http.Client {
	c := e.withCert(cert)
	tr := c.Transport.(*http.Transport)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr.DialContext = d.DialContext
	return c
}

func certHeader(format string, leaf *x509.Certificate) (string, string) {
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	switch format {
	case certs.FormatRFC9440:
		return "Client-Cert", ":" + b64(leaf.Raw) + ":"
	case certs.FormatXFCC:
		return "X-Forwarded-Client-Cert", `By=spiffe://example.org/proxy;Hash=abc;Cert="` + url.PathEscape(p) + `";Subject="CN=x"`
	}
	return "X-SSL-Client-Cert", url.PathEscape(p)
}

func TestForwardedCertificate(t *testing.T) {
	for _, format := range []string{certs.FormatRFC9440, certs.FormatXFCC, certs.FormatNginx} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t, withProxy(format))
			e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
			_, leaf := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
			proxyOwn, _ := e.leafCert(nil, certs.Leaf{CommonName: "proxy", URIs: []string{spiffeID}, Client: true})
			cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}
			name, value := certHeader(format, leaf)
			hdr := http.Header{}
			hdr.Set(name, value)

			resp, b := e.postVia(e.fromAddr(proxyAddr, nil), e.issuer, cc, hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("forwarded certificate from the trusted proxy refused: %d %v\n%s", resp.StatusCode, b, e.logs)
			}
			if c, _ := e.verify(b["access_token"].(string)); c.Cnf == nil || c.Cnf.X5tS256 != certs.Thumbprint(leaf) {
				t.Fatal("token not bound to the forwarded certificate")
			}
			// The proxy's own TLS certificate is never taken as the client's.
			if resp, _ := e.postVia(e.fromAddr(proxyAddr, &proxyOwn), e.issuer, cc, nil); resp.StatusCode != 401 {
				t.Fatalf("proxy's own certificate used as the client's: %d", resp.StatusCode)
			}
			bad := http.Header{}
			bad.Set(name, "garbage")
			if resp, b := e.postVia(e.fromAddr(proxyAddr, nil), e.issuer, cc, bad); resp.StatusCode != 400 || b["error"] != "invalid_request" {
				t.Fatalf("malformed header: %d %v", resp.StatusCode, b)
			}
			// The same header from any other peer is refused and logged.
			if resp, b := e.postVia(e.fromAddr("127.0.0.1", nil), e.issuer, cc, hdr); resp.StatusCode != 400 || b["error"] != "invalid_request" {
				t.Fatalf("header from an untrusted peer: %d %v", resp.StatusCode, b)
			}
			if !strings.Contains(e.logs.String(), "untrusted peer") {
				t.Error("spoof attempt not logged")
			}
		})
	}
}
