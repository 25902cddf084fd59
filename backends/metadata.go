package backends

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bounds of a client record, on every path (registration, CLI, every backend's
// load and store). A record is small: RFC 7591 metadata, our fields, a JWK Set.
const (
	// MaxRecordBytes bounds a whole record document.
	MaxRecordBytes = 128 << 10
	// MaxMemberBytes bounds one member's value (jwks, the largest, included).
	MaxMemberBytes = 64 << 10
	// MaxDepth bounds JSON nesting; the record's own object is depth 1.
	MaxDepth = 16
	// MaxMemberName bounds a member name.
	MaxMemberName = 256
	// MaxExtraMembers bounds the unknown members kept in Extra.
	MaxExtraMembers = 64
)

// reservedMembers are names a record's metadata never holds as an unknown
// member: the credentials and management members of RFC 7591 §3.2.1 and
// RFC 7592 §3, and the secret members a backend stores beside (awssm) or apart
// from (file, Vault) the record. Kept in Extra, one would reach a credential
// field (Secrets Manager's client_secret) or be duplicated in a response.
var reservedMembers = []string{
	"client_secret", "client_secrets", "client_secret_expires_at",
	"registration_access_token", "registration_client_uri",
	"registration_token_hash", "secrets",
}

// IsReservedMember reports whether name is a credential or management member
// that no record may hold as metadata.
func IsReservedMember(name string) bool { return slices.Contains(reservedMembers, name) }

// MemberError says which member of a client record failed strict decoding;
// Member is "(body)" for the document as a whole. RFC 7591 §3.2.2 names the
// field in invalid_client_metadata; backends wrap it with ErrInvalidRecord.
type MemberError struct {
	Member, Reason string
}

func (e *MemberError) Error() string { return e.Member + ": " + e.Reason }

// memberErr builds a MemberError naming an attacker-chosen member: truncated.
func memberErr(name, format string, args ...any) *MemberError {
	if name == "" {
		name = `""`
	}
	return &MemberError{Member: truncate(name, 64), Reason: fmt.Sprintf(format, args...)}
}

func bodyErr(format string, args ...any) *MemberError {
	return &MemberError{Member: "(body)", Reason: fmt.Sprintf(format, args...)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// member is one name/value pair of a strictly decoded object, value compacted.
type member struct {
	name  string
	value json.RawMessage
}

// strictObject decodes one JSON object into its members, in document order.
// Strict (RFC 8259 §4 leaves duplicates to the implementation; we refuse
// them): valid UTF-8, nesting ≤ depth, no duplicate names after unescaping,
// bounded names and values, nothing after the object.
func strictObject(b []byte, depth int) ([]member, error) {
	if !utf8.Valid(b) {
		return nil, bodyErr("not UTF-8 (RFC 8259 §8.1)")
	}
	if d := nesting(b); d > depth {
		return nil, bodyErr("nested deeper than %d levels", depth)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bodyErr("not a JSON object")
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bodyErr("malformed JSON")
		}
		name, _ := tok.(string)
		if len(name) > MaxMemberName {
			return nil, memberErr(name, "member name longer than %d bytes", MaxMemberName)
		}
		if seen[name] {
			return nil, memberErr(name, "duplicate member")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, memberErr(name, "malformed JSON")
		}
		if len(raw) > MaxMemberBytes {
			return nil, memberErr(name, "larger than %d bytes", MaxMemberBytes)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, memberErr(name, "malformed JSON")
		}
		out = append(out, member{name, c.Bytes()})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, bodyErr("malformed JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bodyErr("trailing data after the JSON object")
	}
	return out, nil
}

// nesting returns the deepest nesting of arrays and objects in b (valid or not).
func nesting(b []byte) int {
	depth, deepest, inStr, esc := 0, 0, false, false
	for _, ch := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && ch == '\\':
			esc = true
		case ch == '"':
			inStr = !inStr
		case inStr:
		case ch == '{' || ch == '[':
			depth++
			deepest = max(deepest, depth)
		case ch == '}' || ch == ']':
			depth--
		}
	}
	return deepest
}

// foldsTo returns the name in names that name equals under Unicode simple case
// folding (strings.EqualFold: `Scope`, `ſcope` U+017F, K U+212A …) without
// being identical to it. encoding/json matches struct fields that way, so such
// a member would shadow the real one in any consumer that uses it.
func foldsTo(name string, names ...[]string) (string, bool) {
	for _, l := range names {
		for _, n := range l {
			if name != n && strings.EqualFold(name, n) {
				return n, true
			}
		}
	}
	return "", false
}

// DecodeClient strictly decodes a client record (RFC 7591 §2 metadata plus our
// fields): member names match exactly; a duplicate, a member that differs from
// a known or reserved one only in letter case, a reserved member, a wrong type,
// or a size or depth over the bounds is a *MemberError. Unknown members are kept
// in Extra, compacted.
func DecodeClient(b []byte) (*Client, error) {
	c, _, err := DecodeRecord(b)
	return c, err
}

// DecodeRecord is DecodeClient for a backend that stores its own members
// beside the metadata (Secrets Manager keeps the client's secrets in the same
// document): members named in own are returned apart, never in the Client;
// their case variants are refused like any other.
func DecodeRecord(b []byte, own ...string) (*Client, map[string]json.RawMessage, error) {
	if len(b) > MaxRecordBytes {
		return nil, nil, bodyErr("larger than %d bytes", MaxRecordBytes)
	}
	members, err := strictObject(b, MaxDepth)
	if err != nil {
		return nil, nil, err
	}
	known := knownClientNames()
	var kept bytes.Buffer
	kept.WriteByte('{')
	var extra, held map[string]json.RawMessage
	for _, m := range members {
		switch {
		case slices.Contains(own, m.name):
			if held == nil {
				held = map[string]json.RawMessage{}
			}
			held[m.name] = m.value
			continue
		case IsKnownClientField(m.name):
			if kept.Len() > 1 {
				kept.WriteByte(',')
			}
			// Exact names only, each once: encoding/json cannot be steered to
			// another field by case folding here.
			name, _ := json.Marshal(m.name)
			kept.Write(name)
			kept.WriteByte(':')
			kept.Write(m.value)
			continue
		case IsReservedMember(m.name):
			return nil, nil, memberErr(m.name, "reserved for the server; not client metadata")
		}
		if n, ok := foldsTo(m.name, known, reservedMembers, own); ok {
			return nil, nil, memberErr(m.name, "differs from the member %q only in letter case", n)
		}
		if extra == nil {
			extra = map[string]json.RawMessage{}
		}
		if len(extra) == MaxExtraMembers {
			return nil, nil, memberErr(m.name, "more than %d unknown members", MaxExtraMembers)
		}
		extra[m.name] = m.value
	}
	kept.WriteByte('}')
	var a clientAlias
	if err := json.Unmarshal(kept.Bytes(), &a); err != nil {
		return nil, nil, typeErr(err)
	}
	c := (*Client)(&a)
	c.Extra = extra
	return c, held, nil
}

// typeErr turns an encoding/json error on known members into a MemberError.
func typeErr(err error) error {
	var me *MemberError
	if errors.As(err, &me) {
		return me
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return memberErr(te.Field, "wrong type")
	}
	return bodyErr("malformed JSON or wrong type")
}

// Check verifies the bounds DecodeClient enforces on a record built in code:
// the unknown members are none of the known or reserved ones (nor a case
// variant of one), valid, compact-able JSON within the size and depth bounds.
// MarshalJSON calls it, so no store ever writes a record it could not load.
func (c *Client) Check() error {
	if len(c.Extra) > MaxExtraMembers {
		return bodyErr("more than %d unknown members", MaxExtraMembers)
	}
	known := knownClientNames()
	for name, v := range c.Extra {
		switch {
		case IsKnownClientField(name):
			return memberErr(name, "a known member cannot be kept as an unknown one")
		case IsReservedMember(name):
			return memberErr(name, "reserved for the server; not client metadata")
		case len(name) > MaxMemberName || !utf8.ValidString(name):
			return memberErr(name, "invalid member name")
		}
		if n, ok := foldsTo(name, known, reservedMembers); ok {
			return memberErr(name, "differs from the member %q only in letter case", n)
		}
		if err := checkValue(name, v); err != nil {
			return err
		}
	}
	if len(c.JWKS) > 0 {
		if err := checkValue("jwks", c.JWKS); err != nil {
			return err
		}
	}
	if c.FederatedSubject != nil {
		if err := c.FederatedSubject.Check(); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(name string, v json.RawMessage) error {
	switch {
	case len(v) > MaxMemberBytes:
		return memberErr(name, "larger than %d bytes", MaxMemberBytes)
	case !utf8.Valid(v) || !json.Valid(v):
		return memberErr(name, "not valid JSON")
	case nesting(v) > MaxDepth-1:
		return memberErr(name, "nested deeper than %d levels", MaxDepth)
	}
	return nil
}

// MarshalCompact encodes v as a backend stores a record: compact and without
// HTML escaping, so a stored record is no larger than the metadata it came
// from and loads back within the bounds it was accepted under (an indented
// record of deeply nested arrays grows quadratically; json.Marshal turns each
// '<' into six bytes).
func MarshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
