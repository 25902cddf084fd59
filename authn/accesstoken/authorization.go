package accesstoken

// ParseAuthorization splits an Authorization header value into its scheme
// and its credentials, RFC 9110 §11.4: credentials = auth-scheme 1*SP
// token68. The token68 syntax is RFC 6750 §2.1's b64token, so an access
// token (Bearer, or DPoP per RFC 9449 §7.1) parses here and nothing else
// does: no second token, no auth-params, no white space inside.
//
// scheme is set whenever h starts with a well-formed auth-scheme, even
// when ok is false, so a caller can tell "another scheme" from "its scheme,
// malformed". Schemes are case-insensitive (RFC 9110 §11.1): compare with
// strings.EqualFold. Leading and trailing white space is not allowed; the
// HTTP server has already trimmed it from the field value.
func ParseAuthorization(h string) (scheme, token string, ok bool) {
	i := 0
	for i < len(h) && isTchar(h[i]) {
		i++
	}
	if i == 0 || (i < len(h) && h[i] != ' ') {
		return "", "", false // no auth-scheme (RFC 9110 §5.6.2 token)
	}
	scheme = h[:i]
	for i < len(h) && h[i] == ' ' {
		i++
	}
	token = h[i:]
	if !isToken68(token) {
		return scheme, "", false
	}
	return scheme, token, true
}

// isToken68 reports whether s is RFC 9110 §11.2 token68 (RFC 6750 §2.1
// b64token): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	n := 0
	for n < len(s) && isB64tokenChar(s[n]) {
		n++
	}
	if n == 0 {
		return false
	}
	for _, c := range []byte(s[n:]) {
		if c != '=' {
			return false
		}
	}
	return true
}

func isB64tokenChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// isTchar: RFC 9110 §5.6.2.
func isTchar(c byte) bool {
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return isAlnum(c)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
