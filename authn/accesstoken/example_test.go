package accesstoken_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
)

// Minting a token with a Signer and verifying it with the issuer's keys.
func ExampleMint() {
	ctx := context.Background()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer := &key{alg: "ES256", kid: "2026-01", priv: priv} // any accesstoken.Signer: the broker's is its key ring
	now := time.Now()
	tok, _, err := accesstoken.Mint(ctx, signer, "https://auth.example.com", &accesstoken.Grant{
		ClientID: "payments", Scopes: []string{"orders:read"}, Audience: []string{"https://api.example.com"}, Lifetime: 5 * time.Minute}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := accesstoken.NewVerifier(publish(signer), accesstoken.Expected{Issuer: "https://auth.example.com", Audience: "https://api.example.com", Leeway: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	claims, err := v.Verify(ctx, tok, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.ClientID, claims.Scope, claims.Bound())
	// Output: payments orders:read false
}
