package tokensource

import (
	"slices"
	"strings"
)

// ParseChallenges is parseChallenges for the black-box tests: each
// challenge as "scheme name=value …", parameters sorted.
func ParseChallenges(v string) []string {
	var out []string
	for _, c := range parseChallenges(v) {
		var ps []string
		for k, val := range c.params {
			ps = append(ps, k+"="+val)
		}
		slices.Sort(ps)
		out = append(out, strings.TrimSpace(c.scheme+" "+strings.Join(ps, " ")))
	}
	return out
}
