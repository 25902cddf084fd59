package tokensource_test

import (
	"github.com/tokenbroker/tokenbroker/authn/tokensource"

	"strings"
	"testing"
)

// A Source configured for DPoP that is answered with a token of another
// type — a broker that ignored the proof, or anything between the kit and
// it — does not use that token: an unbound bearer token is exactly what
// DPoP was configured to avoid (RFC 9449 §5: a client expecting a
// DPoP-bound token may discard a Bearer answer). No API request carries it.
// The type itself compares case-insensitively (RFC 6749 §7.1).
func TestRevrsDPoPRefusesAnotherTokenType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tokenType string
		ok        bool
	}{{"Bearer", false}, {"bearer", false}, {"N_A", false}, {"", false}, {"dpop", true}} {
		s := newDPoPServer(t, false)
		s.tokenType = tc.tokenType
		src := s.source(t, &tokensource.DPoP{})
		tok, err := src.Token()
		if tc.ok {
			if err != nil {
				t.Fatalf("token_type %q: %v", tc.tokenType, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("token_type %q with DPoP configured: the kit took token %q", tc.tokenType, tok.AccessToken)
		}
		resp, err := src.Client().Get(s.URL + "/orders")
		if err == nil {
			resp.Body.Close()
			t.Errorf("token_type %q: the API call went out (%d)", tc.tokenType, resp.StatusCode)
		}
		for _, r := range s.requests() {
			if strings.HasPrefix(r, "/orders") {
				t.Errorf("token_type %q: the API saw %q", tc.tokenType, r)
			}
		}
	}
}
