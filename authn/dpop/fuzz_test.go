package dpop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
)

// FuzzVerify: no input panics, and whatever Verify accepts is a proof for
// this request signed by the key it names.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	k := ecKey(f)
	p, _ := dpop.NewProver(k, dpop.WithProverClock(func() time.Time { return now }))
	good, _ := p.Proof("POST", endpoint, "", "")
	f.Add(good)
	f.Add(craft(f, k, jose.ES256, map[string]any{"typ": "JWT"}, goodClaims(now)))
	f.Add(craft(f, nil, "none", nil, goodClaims(now)))
	f.Add(craft(f, k, jose.ES256, nil, []byte(`{"jti":"a","htm":"POST","htm":"GET","htu":"`+endpoint+`","iat":1800000000}`)))
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		v, _ := dpop.NewVerifier(dpop.WithReplay(memReplay()), dpop.WithClock(func() time.Time { return now }))
		got, err := v.Verify(context.Background(), []string{s}, "POST", endpoint, "")
		if err != nil {
			if !errors.Is(err, dpop.ErrInvalidProof) && !errors.Is(err, dpop.ErrUseNonce) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if got.HTM != "POST" || got.JKT == "" || got.Key == nil || !got.Key.IsPublic() {
			t.Fatalf("accepted %+v", got)
		}
		if jkt, _ := dpop.Thumbprint(got.Key); jkt != got.JKT {
			t.Fatal("jkt is not the key's thumbprint")
		}
	})
}
