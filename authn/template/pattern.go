package template

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a pattern.
const (
	MaxPatternLen      = 512
	MaxPatternSegments = 64
)

// Wildcard is the one wildcard: a whole segment.
const Wildcard = "*"

// Pattern is an exact-segment glob: literal segments and "*" segments
// between separators ("/" and ":"), e.g. "system:serviceaccount:*:deployer"
// or "ns/*/sa/api". "*" stands for exactly one non-empty segment, never for
// part of one ("pay*" is refused) and never for several; there are no
// regular expressions. A value matches when it has the same separators in
// the same places and each literal segment equals the value's exactly.
type Pattern struct {
	raw  string
	segs []string
	seps string
}

// isSep reports whether b separates segments.
func isSep(b byte) bool { return b == '/' || b == ':' }

// split cuts s into segments and the separators between them.
func split(s string) (segs []string, seps string) {
	start := 0
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if isSep(s[i]) {
			segs = append(segs, s[start:i])
			sb.WriteByte(s[i])
			start = i + 1
		}
	}
	return append(segs, s[start:]), sb.String()
}

// ParsePattern parses an exact-segment glob. Refused: empty, longer than
// MaxPatternLen bytes or MaxPatternSegments segments, not UTF-8, a control
// or space character, an empty segment, a "*" inside a segment, or only
// wildcards (a pattern must say something literal).
func ParsePattern(s string) (Pattern, error) {
	switch {
	case s == "":
		return Pattern{}, errors.New("pattern is empty")
	case len(s) > MaxPatternLen:
		return Pattern{}, fmt.Errorf("pattern longer than %d bytes", MaxPatternLen)
	case !utf8.ValidString(s):
		return Pattern{}, errors.New("pattern is not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return Pattern{}, fmt.Errorf("pattern %.64q holds a control or space character", s)
		}
	}
	segs, seps := split(s)
	if len(segs) > MaxPatternSegments {
		return Pattern{}, fmt.Errorf("pattern has more than %d segments", MaxPatternSegments)
	}
	literal := false
	for _, g := range segs {
		switch {
		case g == "":
			return Pattern{}, fmt.Errorf("pattern %.64q has an empty segment", s)
		case g == Wildcard:
		case strings.Contains(g, Wildcard):
			return Pattern{}, fmt.Errorf("pattern %.64q: %q — a wildcard stands for a whole segment only", s, g)
		default:
			literal = true
		}
	}
	if !literal {
		return Pattern{}, fmt.Errorf("pattern %.64q has no literal segment", s)
	}
	return Pattern{raw: s, segs: segs, seps: seps}, nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// Match reports whether v matches p.
func (p Pattern) Match(v string) bool {
	if p.raw == "" || len(v) > 4*MaxPatternLen {
		return false
	}
	segs, seps := split(v)
	if seps != p.seps || len(segs) != len(p.segs) {
		return false
	}
	for i, g := range p.segs {
		if segs[i] == "" || (g != Wildcard && g != segs[i]) {
			return false
		}
	}
	return true
}

// Overlaps reports whether some value matches both p and q: the same
// separators in the same places, and at every segment the same literal or a
// wildcard on either side (a wildcard matches any non-empty segment, so
// against a literal or another wildcard it always can).
func (p Pattern) Overlaps(q Pattern) bool {
	if p.seps != q.seps || len(p.segs) != len(q.segs) {
		return false
	}
	for i := range p.segs {
		a, b := p.segs[i], q.segs[i]
		if a != Wildcard && b != Wildcard && a != b {
			return false
		}
	}
	return true
}
