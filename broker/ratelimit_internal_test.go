package broker

import (
	"strings"
	"testing"
)

// An IPv6 source is one bucket per /64: a host rotating through its own
// /64 stays in one bucket.
func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":             "198.51.100.7",
		"2001:db8:1:2:aaaa::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::": "2001:db8:1:2::/64",
		"::ffff:198.51.100.7":      "::ffff:198.51.100.7",
		"not an address":           "not an address",
	} {
		if got := sourceKey(in); got != want {
			t.Errorf("sourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRateValidate(t *testing.T) {
	for _, tc := range []struct {
		r    Rate
		want string
	}{
		{Rate{}, ""},
		{Rate{PerSecond: 1, Burst: 5}, ""},
		{Rate{PerSecond: 1}, "Burst: required when the rate per second is set"},
		{Rate{Burst: 5}, "PerSecond: required when the burst is set"},
		{Rate{PerSecond: -1, Burst: 5}, "per second and burst must not be negative"},
	} {
		err := tc.r.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}
