package authn

import "net/netip"

// Address blocks a jwks_uri fetch never connects to: the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and its updates) minus the few
// globally reachable entries, which the broker has no reason to reach either.
var (
	// IPv4: RFC 6890 §2.2.2 with RFC 8190, RFC 7526, RFC 6598 and RFC 5737.
	nonPublic4 = prefixes(
		"0.0.0.0/8",       // "this network" (RFC 791); 0.0.0.0 reaches the local host
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local: cloud metadata endpoints live here
		"172.16.0.0/12",   // private (RFC 1918)
		"192.0.0.0/24",    // IETF protocol assignments (RFC 6890), DS-Lite, NAT64 discovery
		"192.0.2.0/24",    // TEST-NET-1 (RFC 5737)
		"192.31.196.0/24", // AS112-v4 (RFC 7535)
		"192.52.193.0/24", // AMT (RFC 7450)
		"192.88.99.0/24",  // deprecated 6to4 relay anycast (RFC 7526)
		"192.168.0.0/16",  // private (RFC 1918)
		"192.175.48.0/24", // direct delegation AS112 (RFC 7534)
		"198.18.0.0/15",   // benchmarking (RFC 2544)
		"198.51.100.0/24", // TEST-NET-2 (RFC 5737)
		"203.0.113.0/24",  // TEST-NET-3 (RFC 5737)
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved (RFC 1112), limited broadcast included
	)
	// IPv6 is allowed only inside the global unicast allocation 2000::/3
	// (RFC 4291 §2.4), which excludes at once ::/128, ::1/128, the
	// IPv4-compatible ::/96, NAT64 64:ff9b::/96 (RFC 6052) and 64:ff9b:1::/48
	// (RFC 8215), discard 100::/64, SRv6 5f00::/16, unique-local fc00::/7,
	// site-local fec0::/10 (RFC 3879), link-local fe80::/10 and multicast.
	// IPv4-mapped ::ffff:0:0/96 is judged as the IPv4 address it is. Inside
	// 2000::/3 these special-purpose blocks are refused too:
	global6    = netip.MustParsePrefix("2000::/3")
	nonPublic6 = prefixes(
		"2001::/23",     // IETF protocol assignments (RFC 2928): Teredo 2001::/32 embeds IPv4, ORCHID, AMT, AS112
		"2001:db8::/32", // documentation (RFC 3849)
		"2002::/16",     // 6to4 (RFC 3056): an embedded IPv4 address, any of the above
		"3fff::/20",     // documentation (RFC 9637)
	)
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// PublicAddr reports whether ip is a globally reachable unicast address that
// is not special-purpose: the only kind a jwks_uri fetch may connect to (SSRF;
// RFC 7591 §5 leaves the fetched URL to the client). Translation prefixes
// (NAT64, 6to4, Teredo) and the IPv4-compatible form are refused outright
// rather than judged by the IPv4 address they carry: a public service has
// a native address, and a translator on the broker's network would reach
// internal addresses through them.
func PublicAddr(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return !inAny(ip, nonPublic4)
	}
	return global6.Contains(ip) && !inAny(ip, nonPublic6)
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
