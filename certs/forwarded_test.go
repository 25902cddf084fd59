package certs_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/certs"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	xff, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatNginx, Trusted: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48")}})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatNginx, AddressHeader: "forwarded", Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatNginx, AddressHeader: "none", Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	proxy, outsider := "10.0.0.5", "203.0.113.9"
	for _, tc := range []struct {
		name   string
		p      *certs.ProxyExtractor
		peer   string
		header string
		values []string
		want   string
	}{
		{"no proxy configured", nil, outsider, "X-Forwarded-For", []string{"198.51.100.1"}, outsider},
		{"untrusted peer: header ignored", xff, outsider, "X-Forwarded-For", []string{"198.51.100.1"}, outsider},
		{"trusted peer without header", xff, proxy, "", nil, proxy},
		{"one hop", xff, proxy, "X-Forwarded-For", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged left part is not read", xff, proxy, "X-Forwarded-For", []string{"192.0.2.66, 10.9.9.9, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies skipped", xff, proxy, "X-Forwarded-For", []string{"192.0.2.66, 198.51.100.1, 10.1.1.1, 10.2.2.2"}, "198.51.100.1"},
		{"several field lines, in order", xff, proxy, "X-Forwarded-For", []string{"192.0.2.66", "198.51.100.1,10.1.1.1"}, "198.51.100.1"},
		{"empty elements", xff, proxy, "X-Forwarded-For", []string{"192.0.2.66,, 198.51.100.1 ,"}, "198.51.100.1"},
		{"port and brackets", xff, proxy, "X-Forwarded-For", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"IPv4-mapped", xff, proxy, "X-Forwarded-For", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"trusted IPv6 proxy", xff, proxy, "X-Forwarded-For", []string{"198.51.100.1, 2001:db8:1::9"}, "198.51.100.1"},
		{"all trusted: left-most", xff, proxy, "X-Forwarded-For", []string{"10.3.3.3, 10.1.1.1"}, "10.3.3.3"},
		{"garbage hop: the proxy that reported it", xff, proxy, "X-Forwarded-For", []string{"198.51.100.1, nonsense, 10.1.1.1"}, "10.1.1.1"},
		{"zone refused", xff, proxy, "X-Forwarded-For", []string{"fe80::1%eth0"}, proxy},
		{"X-Forwarded-For read, Forwarded not", xff, proxy, "Forwarded", []string{"for=192.0.2.66"}, proxy},
		{"RFC 7239 §4 example", fwd, proxy, "Forwarded", []string{`for="_gazonk", For="[2001:db8:cafe::17]:4711";proto=http`}, "2001:db8:cafe::17"},
		{"RFC 7239 for with by", fwd, proxy, "Forwarded", []string{"for=192.0.2.66, for=198.51.100.17;by=10.0.0.5;proto=https"}, "198.51.100.17"},
		{"RFC 7239 unknown", fwd, proxy, "Forwarded", []string{"for=192.0.2.66, for=unknown"}, proxy},
		{"Forwarded read, X-Forwarded-For not", fwd, proxy, "X-Forwarded-For", []string{"192.0.2.66"}, proxy},
		{"address header off", none, proxy, "X-Forwarded-For", []string{"192.0.2.66"}, proxy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add(tc.header, v)
			}
			if got := tc.p.ClientAddr(netip.MustParseAddr(tc.peer), h); got.String() != tc.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatNginx, AddressHeader: "X-Real-IP", Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}); !isField(err, "AddressHeader") {
		t.Fatalf("unknown address header: %v", err)
	}
}

// FuzzRightmostUntrusted: whatever a client puts in a forwarding header,
// the answer is the peer or an address written in the header, never one of
// the hops left of the right-most untrusted one, and the walk is bounded.
func FuzzRightmostUntrusted(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "a, 10.0.0.1", "for=\"[2001:db8::1]:80\";by=x", ",,,", "for=10.0.0.1, for=_x", strings.Repeat("10.0.0.1,", 40)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	peer := netip.MustParseAddr("10.255.0.1")
	f.Fuzz(func(t *testing.T, v string, forwarded bool) {
		name := certs.HeaderXForwardedFor
		if forwarded {
			name = certs.HeaderForwarded
		}
		got := certs.RightmostUntrusted(name, []string{v}, peer, trusted.Contains)
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("RightmostUntrusted(%q) = %v", v, got)
		}
		if got != peer && got.Is4() && !strings.Contains(v, got.String()) {
			t.Fatalf("RightmostUntrusted(%q) = %v: not in the header", v, got)
		}
		// Whatever came before, a hop appended by the trusted proxy that is
		// not itself trusted is the answer.
		if !forwarded {
			if again := certs.RightmostUntrusted(name, []string{v, "192.0.2.1"}, peer, trusted.Contains); again.String() != "192.0.2.1" {
				t.Fatalf("an untrusted hop appended to %q: %v", v, again)
			}
		}
	})
}

// isField reports whether err is a *certs.FieldError naming field.
func isField(err error, field string) bool {
	var fe *certs.FieldError
	return errors.As(err, &fe) && fe.Field == field
}
