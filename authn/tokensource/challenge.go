package tokensource

import "strings"

// challenge is one WWW-Authenticate challenge (RFC 9110 §11.6.1).
type challenge struct {
	scheme string
	params map[string]string // names in lower case
}

// Bounds on what parseChallenges reads of a server's header.
const (
	maxChallengeHeader = 8 << 10
	maxChallenges      = 16
)

// parseChallenges reads a WWW-Authenticate field value (RFC 9110 §11.6.1):
// comma-separated challenges, each a scheme and auth-params
// (name=token or name="quoted string"). A token68 credential after a
// scheme is read as a parameter-less challenge of that name; an
// unterminated quoted string ends the list. Only the first of a repeated
// parameter counts.
func parseChallenges(v string) []challenge {
	if len(v) > maxChallengeHeader {
		return nil
	}
	p := &challengeParser{s: v}
	var out []challenge
	for len(out) < maxChallenges {
		p.skip(" \t,")
		scheme := p.token()
		if scheme == "" {
			break
		}
		c := challenge{scheme: scheme, params: map[string]string{}}
		for {
			p.skip(" \t,")
			mark := p.i
			name := p.token()
			p.skip(" \t")
			if name == "" || !p.eat('=') {
				p.i = mark // the next challenge's scheme (or a token68)
				break
			}
			p.skip(" \t")
			if n := p.peek(); n == ',' || n == '=' || n == 0 {
				p.skip("=") // a token68's padding, not a parameter
				continue
			}
			val, ok := p.value()
			if !ok {
				return append(out, c)
			}
			if name = strings.ToLower(name); c.params[name] == "" {
				c.params[name] = val
			}
		}
		out = append(out, c)
	}
	return out
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *challengeParser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *challengeParser) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

// token reads an RFC 9110 §5.6.2 token.
func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted-string (RFC 9110 §5.6.4).
func (p *challengeParser) value() (string, bool) {
	if !p.eat('"') {
		t := p.token()
		return t, t != ""
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), true
		case '\\':
			if p.i >= len(p.s) {
				return "", false
			}
			c = p.s[p.i]
			p.i++
		}
		b.WriteByte(c)
	}
	return "", false
}

// isTChar is RFC 9110 §5.6.2 tchar.
func isTChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
