package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DN is a distinguished name as a sequence of RDNs in ASN.1 order (the
// issuer-most RDN first), each RDN a set of attribute type-and-values.
type DN [][]ATV

// ATV is one attribute type and value; Type is a dotted OID.
type ATV struct {
	Type  string
	Value string
}

// RFC 4514 §3 short names, plus the ones RFC 4519 and common CAs use.
var dnNames = map[string]string{
	"CN": "2.5.4.3", "SN": "2.5.4.4", "SERIALNUMBER": "2.5.4.5", "C": "2.5.4.6", "L": "2.5.4.7",
	"ST": "2.5.4.8", "S": "2.5.4.8", "STREET": "2.5.4.9", "O": "2.5.4.10", "OU": "2.5.4.11",
	"TITLE": "2.5.4.12", "POSTALCODE": "2.5.4.17", "GN": "2.5.4.42", "GIVENNAME": "2.5.4.42",
	"DC": "0.9.2342.19200300.100.1.25", "UID": "0.9.2342.19200300.100.1.1",
	"EMAILADDRESS": "1.2.840.113549.1.9.1", "E": "1.2.840.113549.1.9.1",
	"ORGANIZATIONIDENTIFIER": "2.5.4.97",
}

const maxDNLen = 4096

// ParseDN parses an RFC 4514 string ("CN=api,O=Example\, Inc.,C=US"). The
// string lists RDNs most-specific first; the result is in ASN.1 order, so it
// compares directly with a certificate's subject.
func ParseDN(s string) (DN, error) {
	if len(s) > maxDNLen {
		return nil, errors.New("dn: longer than 4096 characters")
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("dn: empty")
	}
	var dn DN
	var rdn []ATV
	i := 0
	for {
		atv, next, err := parseATV(s, i)
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, atv)
		if next >= len(s) {
			dn = append(dn, rdn)
			break
		}
		switch s[next] {
		case '+':
			// multi-valued RDN continues
		case ',', ';':
			dn = append(dn, rdn)
			rdn = nil
		default:
			return nil, fmt.Errorf("dn: unexpected %q at %d", s[next], next)
		}
		i = next + 1
	}
	slices.Reverse(dn)
	return dn, nil
}

func parseATV(s string, i int) (ATV, int, error) {
	eq := strings.IndexByte(s[i:], '=')
	if eq < 0 {
		return ATV{}, 0, fmt.Errorf("dn: missing '=' after %q", s[i:])
	}
	typ := strings.TrimSpace(s[i : i+eq])
	oid, ok := dnNames[strings.ToUpper(typ)]
	if !ok {
		if !isDottedOID(typ) {
			return ATV{}, 0, fmt.Errorf("dn: unknown attribute type %q", typ)
		}
		oid = strings.TrimPrefix(strings.TrimPrefix(typ, "OID."), "oid.")
	}
	j := i + eq + 1
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j < len(s) && s[j] == '#' {
		// RFC 4514 §2.4 hexstring: the BER encoding of the value.
		k := j + 1
		for k < len(s) && isHex(s[k]) {
			k++
		}
		raw, err := hex.DecodeString(s[j+1 : k])
		if err != nil {
			return ATV{}, 0, fmt.Errorf("dn: bad hex value: %w", err)
		}
		var v any
		if _, err := asn1.Unmarshal(raw, &v); err != nil {
			return ATV{}, 0, fmt.Errorf("dn: bad BER value: %w", err)
		}
		str, ok := v.(string)
		if !ok {
			return ATV{}, 0, errors.New("dn: hex value is not a string")
		}
		for k < len(s) && s[k] == ' ' {
			k++
		}
		return ATV{oid, str}, k, nil
	}
	var b strings.Builder
	lastNonSpace := 0
	for j < len(s) {
		c := s[j]
		switch {
		case c == ',' || c == '+' || c == ';':
			return ATV{oid, b.String()[:lastNonSpace]}, j, nil
		case c == '\\':
			if j+1 >= len(s) {
				return ATV{}, 0, errors.New("dn: trailing backslash")
			}
			if j+2 < len(s) && isHex(s[j+1]) && isHex(s[j+2]) {
				v, _ := hex.DecodeString(s[j+1 : j+3])
				b.WriteByte(v[0])
				j += 3
			} else {
				b.WriteByte(s[j+1])
				j += 2
			}
			lastNonSpace = b.Len()
			continue
		case c == '"':
			return ATV{}, 0, errors.New("dn: unescaped '\"'")
		}
		b.WriteByte(c)
		if c != ' ' {
			lastNonSpace = b.Len()
		}
		j++
	}
	return ATV{oid, b.String()[:lastNonSpace]}, j, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDottedOID(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "OID."), "oid.")
	if s == "" {
		return false
	}
	for _, p := range strings.Split(s, ".") {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return strings.Contains(s, ".")
}

// SubjectDN returns a certificate's subject as a DN, in ASN.1 order.
func SubjectDN(c *x509.Certificate) (DN, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(c.RawSubject, &seq)
	if err != nil || len(rest) > 0 {
		return nil, errors.New("dn: malformed certificate subject")
	}
	dn := make(DN, 0, len(seq))
	for _, set := range seq {
		rdn := make([]ATV, 0, len(set))
		for _, atv := range set {
			v, ok := atv.Value.(string)
			if !ok {
				return nil, fmt.Errorf("dn: attribute %s is not a string", atv.Type)
			}
			rdn = append(rdn, ATV{atv.Type.String(), v})
		}
		dn = append(dn, rdn)
	}
	return dn, nil
}

// Equal compares two DNs as distinguished names: same RDNs in the same
// order, each RDN the same set of attributes, values compared after
// case folding and whitespace folding (RFC 4518 caseIgnoreMatch, simplified).
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		a, b := normRDN(d[i]), normRDN(o[i])
		if !slices.Equal(a, b) {
			return false
		}
	}
	return true
}

func normRDN(r []ATV) []ATV {
	out := make([]ATV, len(r))
	for i, a := range r {
		out[i] = ATV{a.Type, strings.ToLower(strings.Join(strings.Fields(a.Value), " "))}
	}
	slices.SortFunc(out, func(x, y ATV) int { return strings.Compare(x.Type+"="+x.Value, y.Type+"="+y.Value) })
	return out
}

// MatchSubjectDN reports whether the certificate's subject equals the RFC 4514 dn.
func MatchSubjectDN(c *x509.Certificate, dn string) bool {
	return NewPresented([]*x509.Certificate{c}).MatchSubjectDN(dn)
}
