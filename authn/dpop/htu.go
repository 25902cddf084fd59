package dpop

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// HTU is the URI of request r in the form a proof's htu is compared in
// (RFC 9449 §4.3 item 9): scheme, host and path, without query and
// fragment. base, when set, is the scheme and authority the clients use
// ("https://api.example.com"), for a server behind a proxy or with a
// public name; when empty they come from r (TLS or not, and r.Host, which
// the caller chose: set base wherever a proof made for another server must
// not match).
func HTU(r *http.Request, base string) string {
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimRight(base, "/") + r.URL.EscapedPath()
}

// stripQuery drops a URI's query and fragment.
func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// normalizeURI is the comparison form of an http(s) URI: RFC 3986 §6.2.2
// syntax-based normalization (scheme and host in lower case, percent-
// encodings in upper case and unreserved characters decoded) and §6.2.3
// scheme-based normalization (no default port, "/" for an empty path),
// without query and fragment (RFC 9449 §4.3 item 9). Dot segments are not
// removed: a URI with them does not match.
func normalizeURI(s string) (string, error) {
	if len(s) > maxURILength {
		return "", errors.New("URI too long")
	}
	u, err := url.Parse(stripQuery(s))
	if err != nil {
		return "", errors.New("not a URI")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Opaque != "" || u.Host == "" {
		return "", errors.New("not an absolute http(s) URI")
	}
	if u.User != nil {
		return "", errors.New("URI with user information")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	p, err := normalizePercent(u.EscapedPath())
	if err != nil {
		return "", err
	}
	if p == "" {
		p = "/"
	}
	return scheme + "://" + host + p, nil
}

// normalizePercent upper-cases percent-encodings and decodes those of
// unreserved characters (RFC 3986 §6.2.2.1, §6.2.2.2).
func normalizePercent(p string) (string, error) {
	if !strings.Contains(p, "%") {
		return p, nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", errors.New("malformed percent-encoding")
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(p[i : i+3]))
		}
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isUnreserved is RFC 3986 §2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
