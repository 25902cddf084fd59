package accesstoken

import (
	"strconv"

	"github.com/tokenbroker/tokenbroker/internal/jsonappend"
)

// appendClaims appends c as json.Marshal(c) would, without reflection: the
// token endpoint writes one per token (FuzzJSONAppenders checks the bytes).
func appendClaims(b []byte, c *Claims) []byte {
	b = append(b, `{"iss":`...)
	b = jsonappend.String(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = jsonappend.String(b, c.Subject)
	b = append(b, `,"aud":`...)
	switch {
	case len(c.Audience) == 1:
		b = jsonappend.String(b, c.Audience[0])
	case c.Audience == nil:
		b = append(b, "null"...)
	default:
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonappend.String(b, a)
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
	b = jsonappend.String(b, c.ID)
	b = append(b, `,"client_id":`...)
	b = jsonappend.String(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = jsonappend.String(b, c.Scope)
	}
	if c.Cnf != nil {
		b = append(b, `,"cnf":{`...)
		if c.Cnf.X5tS256 != "" {
			b = append(b, `"x5t#S256":`...)
			b = jsonappend.String(b, c.Cnf.X5tS256)
		}
		if c.Cnf.JKT != "" {
			if c.Cnf.X5tS256 != "" {
				b = append(b, ',')
			}
			b = append(b, `"jkt":`...)
			b = jsonappend.String(b, c.Cnf.JKT)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
