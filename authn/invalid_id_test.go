package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// countingSource answers every lookup like a backend in an outage, and
// counts the lookups.
type countingSource struct{ calls int }

func (s *countingSource) Get(context.Context, string) (*backends.ClientEntry, error) {
	s.calls++
	return nil, backends.ErrUnavailable
}

// Review 2 item 4: an id that fails backends.ValidClientID is refused as
// invalid_client before the client source is asked, so during an outage it
// is neither a 503 nor a lookup the cache could take for "the backend
// answered".
func TestInvalidClientIDIsUnknownWithoutLookup(t *testing.T) {
	for _, id := range []string{"bad id!", "a/b", "..", strings.Repeat("a", 129), strings.Repeat("a", authn.MaxClientIDLen)} {
		t.Run(id[:min(len(id), 10)], func(t *testing.T) {
			src := &countingSource{}
			a, err := authn.New(src, []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost()})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []*authn.Request{
				{Form: url.Values{}, Authorization: basicHeader(url.QueryEscape(id), "secret")},
				{Form: url.Values{"client_id": {id}, "client_secret": {"secret"}}},
			} {
				_, err := a.Authenticate(context.Background(), r)
				if !errors.Is(err, authn.ErrInvalidClient) || errors.Is(err, backends.ErrUnavailable) {
					t.Fatalf("Authenticate = %v, want invalid_client", err)
				}
			}
			if src.calls != 0 {
				t.Fatalf("client source asked %d times for an id no backend can hold", src.calls)
			}
		})
	}
}

// An invalid id spends the same verification work as an unknown one
// (docs/security.md: unknown client and bad credential look alike).
func TestInvalidClientIDCostsLikeUnknown(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pk, err := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: "https://as.example", Replay: state.NewMemory(1 << 20), Keys: authn.NewKeySource(nil)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authn.New(source{}, []authn.Method{pk})
	if err != nil {
		t.Fatal(err)
	}
	spend := func(sub string) (spent [2]bool, calls int) {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
		now := time.Now()
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: sub, Subject: sub, Audience: jwt.Audience{"https://as.example"},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: sub}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		authn.ObserveParity(func(table, std bool) { calls++; spent = [2]bool{table, std} })
		defer authn.ObserveParity(nil)
		if _, err := a.Authenticate(t.Context(), &authn.Request{Form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {tok}}}); !errors.Is(err, authn.ErrInvalidClient) {
			t.Fatalf("%q: Authenticate = %v", sub, err)
		}
		return spent, calls
	}
	wantSpent, wantCalls := spend("nobody")
	for _, sub := range []string{"bad id!", strings.Repeat("a", 200)} {
		if spent, calls := spend(sub); spent != wantSpent || calls != wantCalls {
			t.Errorf("%q: parity spend %v in %d calls, an unknown client %v in %d", sub, spent, calls, wantSpent, wantCalls)
		}
	}
}
