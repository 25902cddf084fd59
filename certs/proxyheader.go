package certs

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Proxy header formats carrying a client certificate that a TLS-terminating
// proxy verified the possession of.
const (
	// FormatRFC9440: Client-Cert (and Client-Cert-Chain) as RFC 8941 byte sequences of DER.
	FormatRFC9440 = "rfc9440"
	// FormatXFCC: Envoy's X-Forwarded-Client-Cert, Cert="<URL-encoded PEM>" (and Chain).
	FormatXFCC = "xfcc"
	// FormatNginx: nginx's $ssl_client_escaped_cert, URL-encoded PEM.
	FormatNginx = "nginx"
)

// KnownCertHeaders are the header names proxies commonly use for client
// certificates. A request from an untrusted peer carrying any of them (or
// the configured one) is refused, so a spoof through an unexpected name
// cannot slip past.
var KnownCertHeaders = []string{"Client-Cert", "Client-Cert-Chain", "X-Forwarded-Client-Cert", "X-SSL-Client-Cert", "X-Client-Cert", "SSL-Client-Cert", "X-SSL-Cert"}

// maxCertHeader bounds a certificate header value before parsing.
const maxCertHeader = 12 << 10

// ProxyConfig says where a forwarded client certificate may come from.
type ProxyConfig struct {
	// Header is the header name (default by format: Client-Cert, X-Forwarded-Client-Cert, X-SSL-Client-Cert).
	Header string
	// Format is FormatRFC9440, FormatXFCC or FormatNginx.
	Format string
	// Trusted are the proxy addresses whose headers are honoured.
	Trusted []netip.Prefix
	// AddressHeader names the header the trusted proxies put the client's
	// address in: HeaderXForwardedFor (default), HeaderForwarded, or "none"
	// to key rate limits and the audit trail by the proxy's own address.
	// Exactly one is read: a proxy passes the other through untouched, so
	// the client would choose its value.
	AddressHeader string
}

// ErrUntrustedCertHeader: a certificate header arrived from a peer that is not a trusted proxy.
var ErrUntrustedCertHeader = errors.New("client certificate header from an untrusted peer")

// ProxyExtractor extracts forwarded client certificates.
type ProxyExtractor struct {
	cfg ProxyConfig
}

// FieldError is a ProxyConfig field that does not validate; Field is its
// Go name (Format, Trusted, AddressHeader).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// NewProxyExtractor validates cfg; its errors are *FieldError.
func NewProxyExtractor(cfg ProxyConfig) (*ProxyExtractor, error) {
	switch cfg.Format {
	case FormatRFC9440:
		if cfg.Header == "" {
			cfg.Header = "Client-Cert"
		}
	case FormatXFCC:
		if cfg.Header == "" {
			cfg.Header = "X-Forwarded-Client-Cert"
		}
	case FormatNginx:
		if cfg.Header == "" {
			cfg.Header = "X-SSL-Client-Cert"
		}
	default:
		return nil, &FieldError{"Format", fmt.Errorf("%q is not rfc9440, xfcc or nginx", cfg.Format)}
	}
	if len(cfg.Trusted) == 0 {
		return nil, &FieldError{"Trusted", errors.New("at least one CIDR is required")}
	}
	switch {
	case cfg.AddressHeader == "" || strings.EqualFold(cfg.AddressHeader, HeaderXForwardedFor):
		cfg.AddressHeader = HeaderXForwardedFor
	case strings.EqualFold(cfg.AddressHeader, HeaderForwarded):
		cfg.AddressHeader = HeaderForwarded
	case cfg.AddressHeader == "none":
		cfg.AddressHeader = ""
	default:
		return nil, &FieldError{"AddressHeader", fmt.Errorf("%q is not X-Forwarded-For, Forwarded or none", cfg.AddressHeader)}
	}
	cfg.Header = http.CanonicalHeaderKey(cfg.Header)
	return &ProxyExtractor{cfg: cfg}, nil
}

// Trusted reports whether addr is a trusted proxy.
func (p *ProxyExtractor) Trusted(addr netip.Addr) bool {
	if p == nil {
		return false
	}
	addr = addr.Unmap()
	for _, pr := range p.cfg.Trusted {
		if pr.Contains(addr) {
			return true
		}
	}
	return false
}

// HasCertHeader reports whether h carries any client-certificate header.
func (p *ProxyExtractor) HasCertHeader(h http.Header) bool {
	if p != nil && h.Get(p.cfg.Header) != "" {
		return true
	}
	for _, n := range KnownCertHeaders {
		if len(h.Values(n)) > 0 {
			return true
		}
	}
	return false
}

// Extract returns the certificate chain (leaf first) from a trusted proxy's
// header; nil when the proxy sent none. The caller checks Trusted first.
func (p *ProxyExtractor) Extract(h http.Header) ([]*x509.Certificate, error) {
	v := h.Get(p.cfg.Header)
	if v == "" {
		return nil, nil
	}
	switch p.cfg.Format {
	case FormatRFC9440:
		return ParseRFC9440(v, strings.Join(h.Values("Client-Cert-Chain"), ","))
	case FormatXFCC:
		return ParseXFCC(v)
	default:
		return ParseNginxEscaped(v)
	}
}

// ParseRFC9440 parses RFC 9440 Client-Cert (an RFC 8941 sf-binary item,
// ":base64(DER):", parameters ignored) and the optional Client-Cert-Chain
// (an sf-list of such items).
func ParseRFC9440(cert, chain string) ([]*x509.Certificate, error) {
	if len(cert)+len(chain) > maxCertHeader*4 {
		return nil, errors.New("client-cert: header too large")
	}
	leaf, err := parseSFBinaryCert(cert)
	if err != nil {
		return nil, fmt.Errorf("client-cert: %w", err)
	}
	out := []*x509.Certificate{leaf}
	if strings.TrimSpace(chain) == "" {
		return out, nil
	}
	for _, item := range strings.Split(chain, ",") {
		c, err := parseSFBinaryCert(item)
		if err != nil {
			return nil, fmt.Errorf("client-cert-chain: %w", err)
		}
		out = append(out, c)
		if len(out) > 8 {
			return nil, errors.New("client-cert-chain: more than 8 certificates")
		}
	}
	return out, nil
}

func parseSFBinaryCert(item string) (*x509.Certificate, error) {
	item = strings.TrimSpace(item)
	if i := strings.IndexByte(item, ';'); i >= 0 {
		item = item[:i] // parameters
	}
	if len(item) < 2 || item[0] != ':' || item[len(item)-1] != ':' {
		return nil, errors.New("not an RFC 8941 byte sequence")
	}
	if len(item) > maxCertHeader {
		return nil, errors.New("certificate too large")
	}
	der, err := base64.StdEncoding.DecodeString(item[1 : len(item)-1])
	if err != nil {
		return nil, errors.New("bad base64")
	}
	return x509.ParseCertificate(der)
}

// ParseXFCC parses Envoy's X-Forwarded-Client-Cert. Each proxy appends an
// element; the last one is the nearest, trusted proxy's view of its client.
func ParseXFCC(v string) ([]*x509.Certificate, error) {
	if len(v) > maxCertHeader*4 {
		return nil, errors.New("xfcc: header too large")
	}
	elems, err := splitQuoted(v, ',')
	if err != nil {
		return nil, fmt.Errorf("xfcc: %w", err)
	}
	last := elems[len(elems)-1]
	pairs, err := splitQuoted(last, ';')
	if err != nil {
		return nil, fmt.Errorf("xfcc: %w", err)
	}
	var certPEM, chainPEM string
	for _, kv := range pairs {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("xfcc: pair %q without '='", kv)
		}
		val = unquote(val)
		switch strings.ToLower(k) {
		case "cert":
			certPEM = val
		case "chain":
			chainPEM = val
		}
	}
	if certPEM == "" {
		return nil, nil
	}
	out, err := parseEscapedPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("xfcc cert: %w", err)
	}
	out = out[:1]
	if chainPEM != "" {
		ch, err := parseEscapedPEM(chainPEM)
		if err != nil {
			return nil, fmt.Errorf("xfcc chain: %w", err)
		}
		// Envoy's Chain includes the leaf; skip it when it repeats.
		if len(ch) > 0 && ch[0].Equal(out[0]) {
			ch = ch[1:]
		}
		out = append(out, ch...)
	}
	if len(out) > 9 {
		return nil, errors.New("xfcc: more than 8 chain certificates")
	}
	return out, nil
}

// ParseNginxEscaped parses nginx's $ssl_client_escaped_cert (URL-encoded PEM).
func ParseNginxEscaped(v string) ([]*x509.Certificate, error) {
	if len(v) > maxCertHeader*2 {
		return nil, errors.New("nginx cert: header too large")
	}
	cs, err := parseEscapedPEM(v)
	if err != nil {
		return nil, fmt.Errorf("nginx cert: %w", err)
	}
	return cs[:1], nil
}

func parseEscapedPEM(v string) ([]*x509.Certificate, error) {
	// PathUnescape keeps '+' (base64) literal, unlike QueryUnescape.
	p, err := url.PathUnescape(v)
	if err != nil {
		return nil, errors.New("bad URL encoding")
	}
	return ParseCertificatesPEM([]byte(p))
}

// splitQuoted splits s on sep outside double quotes (with \" escapes).
func splitQuoted(s string, sep byte) ([]string, error) {
	var out []string
	inQ, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && inQ:
			i++
		case s[i] == '"':
			inQ = !inQ
		case s[i] == sep && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote")
	}
	return append(out, s[start:]), nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
	}
	return v
}
