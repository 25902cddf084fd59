package authn_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn"
)

// The jwks_uri SSRF guard: every IANA special-purpose block is refused,
// whichever IPv6 form carries it.
func TestPublicAddrSpecialPurpose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700::1111", true},
		{"2a00:1450:4001:80b::200e", true},
		{"::ffff:8.8.8.8", true}, // IPv4-mapped: judged as the IPv4 address

		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.1.2.3", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.0.170", false}, // NAT64 discovery (RFC 7050)
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},

		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false},      // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1)
		{"::8.8.8.8", false},        // … refused whatever it embeds
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:169.254.169.254", false},
		{"::ffff:0:127.0.0.1", false}, // IPv4-translated (RFC 2765)
		{"64:ff9b::7f00:1", false},    // NAT64 well-known prefix (RFC 6052) to 127.0.0.1
		{"64:ff9b::808:808", false},   // … refused outright, even to a public IPv4
		{"64:ff9b:1::a9fe:a9fe", false},
		{"100::1", false},
		{"2001::1", false}, // Teredo
		{"2001:2::1", false},
		{"2001:db8::1", false},
		{"2002:7f00:1::1", false}, // 6to4 embedding 127.0.0.1
		{"2002:808:808::1", false},
		{"3fff::1", false},
		{"5f00::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fec0::1", false}, // site-local (RFC 3879)
		{"ff02::1", false},
		{"4000::1", false}, // outside the global unicast allocation
		{"fe80::1%eth0", false},
	} {
		if got := authn.PublicAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("PublicAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if authn.PublicAddr(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

// referencePublic is the same rule written another way — over raw bytes,
// straight from the IANA registries — for FuzzPublicAddr to compare against.
func referencePublic(b []byte) bool {
	if len(b) == 16 {
		mapped := b[10] == 0xff && b[11] == 0xff
		for _, x := range b[:10] {
			mapped = mapped && x == 0
		}
		if !mapped {
			switch {
			case b[0]&0xe0 != 0x20: // not 2000::/3
				return false
			case b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02: // 2001::/23
				return false
			case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8: // 2001:db8::/32
				return false
			case b[0] == 0x20 && b[1] == 0x02: // 2002::/16
				return false
			case b[0] == 0x3f && b[1] == 0xff && b[2] < 0x10: // 3fff::/20
				return false
			}
			return true
		}
		b = b[12:]
	}
	a0, a1, a2 := b[0], b[1], b[2]
	switch {
	case a0 == 0, a0 == 10, a0 == 127, a0 >= 224:
		return false
	case a0 == 100 && a1 >= 64 && a1 < 128:
		return false
	case a0 == 169 && a1 == 254, a0 == 172 && a1 >= 16 && a1 < 32, a0 == 192 && a1 == 168:
		return false
	case a0 == 198 && (a1 == 18 || a1 == 19), a0 == 198 && a1 == 51 && a2 == 100, a0 == 203 && a1 == 0 && a2 == 113:
		return false
	case a0 == 192 && a1 == 0 && (a2 == 0 || a2 == 2):
		return false
	case a0 == 192 && (a1 == 88 && a2 == 99 || a1 == 31 && a2 == 196 || a1 == 52 && a2 == 193 || a1 == 175 && a2 == 48):
		return false
	}
	return true
}

func FuzzPublicAddr(f *testing.F) {
	for _, s := range []string{"8.8.8.8", "127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "2606:4700::1111", "fec0::1", "3fff:fff::1", "198.19.0.1"} {
		b, _ := netip.MustParseAddr(s).MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		if got, want := authn.PublicAddr(ip), referencePublic(b); got != want {
			t.Fatalf("PublicAddr(%s) = %v, reference says %v", ip, got, want)
		}
	})
}

// The guard runs where the connection is made, on the address DNS gave
// (so a name that resolves — or re-resolves — to an internal address is
// refused), whatever form the address takes in the URL.
func TestFetcherRefusesAtDialTime(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f := authn.NewJWKSFetcher(authn.FetcherOptions{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	for _, host := range []string{"localhost", "127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"} {
		_, err := f.Get(t.Context(), "c", "https://"+net.JoinHostPort(strings.Trim(host, "[]"), port)+"/jwks", "")
		if err == nil || !strings.Contains(err.Error(), "non-public address") {
			t.Errorf("%s: %v", host, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server was reached %d times", n)
	}
}
