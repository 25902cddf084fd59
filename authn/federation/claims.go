package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Bounds of a federated token's claims set, checked before any claim is read.
const (
	// MaxClaimsDepth bounds nesting (the kubernetes.io object is depth 3).
	MaxClaimsDepth = 6
	// MaxClaimsMembers bounds the members of the whole claims set.
	MaxClaimsMembers = 256
	// MaxClaimPath bounds a configured claim path.
	MaxClaimPath = 256
)

// Claims is a verified token's claims set, decoded strictly (ParseClaims).
type Claims struct {
	m map[string]any
}

// ErrClaims is wrapped by every ParseClaims refusal.
var ErrClaims = errors.New("federated token claims")

// ParseClaims decodes a JWT claims set (RFC 7519 §4) strictly: valid UTF-8,
// one JSON object, nesting at most MaxClaimsDepth, at most MaxClaimsMembers
// members in all, and in every object no two member names that are equal or
// equal under case folding — RFC 7519 §4 says a claims set with duplicate
// names is to be rejected, and a case variant ("SUB", "ſub") is what a
// case-insensitive consumer (encoding/json) would read instead of the real
// one. Numbers are kept as json.Number.
func ParseClaims(b []byte) (*Claims, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrClaims)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n := 0
	v, err := decodeValue(dec, 0, &n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClaims, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data", ErrClaims)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrClaims)
	}
	return &Claims{m: m}, nil
}

func decodeValue(dec *json.Decoder, depth int, n *int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("malformed JSON")
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > MaxClaimsDepth {
			return nil, fmt.Errorf("nested deeper than %d levels", MaxClaimsDepth)
		}
		switch t {
		case '{':
			obj := map[string]any{}
			var names []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, errors.New("malformed JSON")
				}
				name, _ := kt.(string)
				for _, seen := range names {
					if strings.EqualFold(seen, name) {
						return nil, fmt.Errorf("member %.64q appears twice (or differs only in letter case)", name)
					}
				}
				if *n++; *n > MaxClaimsMembers {
					return nil, fmt.Errorf("more than %d members", MaxClaimsMembers)
				}
				names = append(names, name)
				v, err := decodeValue(dec, depth+1, n)
				if err != nil {
					return nil, err
				}
				obj[name] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, errors.New("malformed JSON")
			}
			return obj, nil
		case '[':
			var arr []any
			for dec.More() {
				if *n++; *n > MaxClaimsMembers {
					return nil, fmt.Errorf("more than %d members", MaxClaimsMembers)
				}
				v, err := decodeValue(dec, depth+1, n)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, errors.New("malformed JSON")
			}
			return arr, nil
		}
		return nil, errors.New("malformed JSON")
	default:
		return t, nil
	}
}

// String returns the top-level claim name when it is a JSON string.
func (c *Claims) String(name string) (string, bool) {
	s, ok := c.m[name].(string)
	return s, ok
}

// NumericDate returns the top-level claim name as an RFC 7519 §2
// NumericDate in whole seconds; false when absent, not a number, or out of range.
func (c *Claims) NumericDate(name string) (int64, bool) {
	num, ok := c.m[name].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := num.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return 0, false
	}
	return int64(f), true
}

// Audience returns aud as a list (RFC 7519 §4.1.3: a string or an array of
// strings); false when absent or of another shape.
func (c *Claims) Audience() ([]string, bool) {
	switch v := c.m["aud"].(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

// Lookup returns the string claim at path. A path names nested members
// joined by "." (kubernetes.io.serviceaccount.name); since member names may
// contain dots themselves ("kubernetes.io"), each step takes the member whose
// whole name is a prefix of what is left of the path, ending at a "." or at
// its end. Two members that could both be taken at one step make the path
// ambiguous: false, as for a missing claim or a value that is not a string
// (only strings are compared, never a number's or a boolean's spelling).
func (c *Claims) Lookup(path string) (string, bool) {
	if path == "" || len(path) > MaxClaimPath {
		return "", false
	}
	var cur any = c.m
	rest := path
	for {
		obj, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		var next any
		var after string
		found := 0
		for name, v := range obj {
			if name == "" || !strings.HasPrefix(rest, name) {
				continue
			}
			switch r := rest[len(name):]; {
			case r == "":
				next, after, found = v, "", found+1
			case r[0] == '.' && len(r) > 1:
				next, after, found = v, r[1:], found+1
			}
		}
		if found != 1 {
			return "", false
		}
		if after == "" {
			s, ok := next.(string)
			return s, ok
		}
		cur, rest = next, after
	}
}
