package broker

import (
	"encoding/json"
	"strconv"
)

// Reflection-free JSON for the token endpoint's two hot documents, the access
// token's claims and the token response. Each writes exactly what
// encoding/json writes for the same value (FuzzJSONAppenders checks it).

// appendJSONString appends s as a JSON string. Plain printable ASCII (every
// token, scope and client_id in practice) is copied; anything else goes
// through encoding/json, so escaping rules stay encoding/json's.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendClaims appends c as json.Marshal(c) would.
func appendClaims(b []byte, c *AccessTokenClaims) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"aud":`...)
	switch {
	case len(c.Audience) == 1:
		b = appendJSONString(b, c.Audience[0])
	case c.Audience == nil:
		b = append(b, "null"...)
	default:
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, c.NotBefore, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, c.Scope)
	}
	if c.Cnf != nil {
		b = append(b, `,"cnf":{"x5t#S256":`...)
		b = appendJSONString(b, c.Cnf.X5tS256)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendTokenResponse appends the RFC 6749 §5.1 response as
// json.Marshal(tokenResponse{...}) would.
func appendTokenResponse(b []byte, token string, expiresIn int64, scope string) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, token)
	b = append(b, `,"token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	if scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, scope)
	}
	return append(b, '}')
}
