package certs

import (
	"net/http"
	"net/netip"
	"strings"
)

// Headers a trusted proxy may carry the client's address in.
const (
	// HeaderXForwardedFor is the de-facto X-Forwarded-For: a comma-separated
	// list of addresses, each proxy appending its own peer (nginx
	// $proxy_add_x_forwarded_for, HAProxy option forwardfor, Envoy, AWS ALB).
	HeaderXForwardedFor = "X-Forwarded-For"
	// HeaderForwarded is RFC 7239 Forwarded; the address is the for= parameter.
	HeaderForwarded = "Forwarded"
)

// maxForwardedHops bounds how many hops ClientAddr examines, from the right.
// Only hops appended by trusted proxies are ever read, so a real chain is
// short; the bound keeps an attacker-grown header from costing more.
const maxForwardedHops = 16

// ClientAddr returns the address of the client behind the proxy at peer.
// When peer is not a trusted proxy (or p is nil) it is peer itself: a
// forwarding header from anyone else can only be a spoof. Otherwise the
// forwarding header is walked from the right, skipping hops that are
// themselves trusted proxies, and the first other hop is the client (the
// right-most untrusted address: every hop to its right was appended by a
// proxy we trust, everything to its left was sent by the client and is not
// read). See RFC 7239 §5.2 and §8.
func (p *ProxyExtractor) ClientAddr(peer netip.Addr, h http.Header) netip.Addr {
	peer = peer.Unmap()
	if p == nil || p.cfg.AddressHeader == "" || !p.Trusted(peer) {
		return peer
	}
	return RightmostUntrusted(p.cfg.AddressHeader, h.Values(p.cfg.AddressHeader), peer, p.Trusted)
}

// RightmostUntrusted walks the hop list of a forwarding header (name is
// HeaderXForwardedFor or HeaderForwarded; values are its field lines, in
// order) from the right and returns the first address that trusted does not
// accept. peer is the trusted proxy the request came from. When every hop is
// trusted the left-most one examined is returned; when the header is absent,
// peer. A hop that names no usable address ("unknown", an obfuscated
// identifier, garbage) stops the walk: the request is attributed to the
// trusted proxy that reported it, never to an address of the client's choosing.
func RightmostUntrusted(name string, values []string, peer netip.Addr, trusted func(netip.Addr) bool) netip.Addr {
	forwarded := strings.EqualFold(name, HeaderForwarded)
	last := peer
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			elem := v
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				elem, v = v[j+1:], v[:j]
			} else {
				v = ""
			}
			elem = strings.TrimSpace(elem)
			if elem == "" {
				continue // empty list elements are allowed (RFC 9110 §5.6.1)
			}
			if hops++; hops > maxForwardedHops {
				return last
			}
			if forwarded {
				elem = forwardedFor(elem)
			}
			a, ok := parseNode(elem)
			if !ok {
				return last
			}
			if !trusted(a) {
				return a
			}
			last = a
		}
	}
	return last
}

// forwardedFor returns the for= value of one RFC 7239 forwarded-element
// (§4: pairs separated by ';', names case-insensitive, values tokens or
// quoted strings), "" when absent.
func forwardedFor(elem string) string {
	for elem != "" {
		pair := elem
		if j := strings.IndexByte(elem, ';'); j >= 0 {
			pair, elem = elem[:j], elem[j+1:]
		} else {
			elem = ""
		}
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// parseNode parses a hop's address: "192.0.2.1", "192.0.2.1:4711",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711" (RFC 7239 §6).
// Zones are refused: they mean nothing beyond the proxy's host.
func parseNode(s string) (netip.Addr, bool) {
	if len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), a.Zone() == ""
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		return a.Unmap(), err == nil && a.Is6() && a.Zone() == ""
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), ap.Addr().Zone() == ""
}
