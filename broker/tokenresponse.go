package broker

import (
	"strconv"

	"github.com/tokenbroker/tokenbroker/internal/jsonappend"
)

// appendTokenResponse appends the RFC 6749 §5.1 response as
// json.Marshal(tokenResponse{...}) would, without reflection: the token
// endpoint writes one per token (FuzzTokenResponse checks the bytes). The
// claims inside the token are authn/accesstoken's.
func appendTokenResponse(b []byte, token, tokenType string, expiresIn int64, scope string) []byte {
	b = append(b, `{"access_token":`...)
	b = jsonappend.String(b, token)
	b = append(b, `,"token_type":`...)
	b = jsonappend.String(b, tokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	if scope != "" {
		b = append(b, `,"scope":`...)
		b = jsonappend.String(b, scope)
	}
	return append(b, '}')
}
