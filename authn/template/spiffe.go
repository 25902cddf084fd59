package template

import (
	"errors"
	"fmt"
	"strings"
)

const spiffeScheme = "spiffe://"

// SPIFFEPattern is a SPIFFE ID pattern: spiffe://<trust domain>/<path
// pattern>, the trust domain always literal, the path an exact-segment
// glob over "/" (SPIFFE-ID §2.2: path segments are [A-Za-z0-9._-], never
// "." or ".."). spiffe://prod.example/ns/*/sa/api matches
// spiffe://prod.example/ns/payments/sa/api and nothing in another trust
// domain, nothing deeper or shallower.
type SPIFFEPattern struct {
	td   string
	path Pattern
}

// ParseSPIFFEPattern parses a SPIFFE ID pattern.
func ParseSPIFFEPattern(s string) (SPIFFEPattern, error) {
	rest, ok := strings.CutPrefix(s, spiffeScheme)
	if !ok {
		return SPIFFEPattern{}, fmt.Errorf("SPIFFE ID pattern %.64q must start with spiffe://", s)
	}
	td, path, ok := strings.Cut(rest, "/")
	if !ok || path == "" {
		return SPIFFEPattern{}, fmt.Errorf("SPIFFE ID pattern %.64q has no path (a whole trust domain is never one template)", s)
	}
	if err := checkSPIFFEChars(td, "abcdefghijklmnopqrstuvwxyz0123456789.-_"); err != nil || td == "" {
		return SPIFFEPattern{}, fmt.Errorf("SPIFFE ID pattern %.64q: trust domain must be literal lower-case [a-z0-9.-_] (SPIFFE-ID §2.1)", s)
	}
	if strings.Contains(path, ":") {
		return SPIFFEPattern{}, fmt.Errorf("SPIFFE ID pattern %.64q: ':' is not a SPIFFE path character", s)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return SPIFFEPattern{}, fmt.Errorf("SPIFFE ID pattern %.64q: %q is not a path segment (SPIFFE-ID §2.2)", s, seg)
		}
		if seg != Wildcard {
			if err := checkSPIFFEChars(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*"); err != nil {
				return SPIFFEPattern{}, fmt.Errorf("SPIFFE ID pattern %.64q: %w", s, err)
			}
		}
	}
	p, err := ParsePattern(path)
	if err != nil {
		return SPIFFEPattern{}, err
	}
	return SPIFFEPattern{td: td, path: p}, nil
}

func checkSPIFFEChars(s, allowed string) error {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(allowed, rune(s[i])) {
			return errors.New("character outside the SPIFFE ID alphabet")
		}
	}
	return nil
}

// String returns the pattern as written.
func (p SPIFFEPattern) String() string { return spiffeScheme + p.td + "/" + p.path.String() }

// TrustDomain is the pattern's (literal) trust domain.
func (p SPIFFEPattern) TrustDomain() string { return p.td }

// Match reports whether the SPIFFE ID id matches.
func (p SPIFFEPattern) Match(id string) bool {
	rest, ok := strings.CutPrefix(id, spiffeScheme)
	if !ok {
		return false
	}
	td, path, ok := strings.Cut(rest, "/")
	return ok && td == p.td && p.path.Match(path)
}

// Overlaps reports whether some SPIFFE ID matches both.
func (p SPIFFEPattern) Overlaps(q SPIFFEPattern) bool {
	return p.td == q.td && p.path.Overlaps(q.path)
}
