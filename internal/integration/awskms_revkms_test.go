package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// A KMS answer that is a well-formed signature by the right key, but over
// another digest (a lying or replaying endpoint), is never a token: a token
// no JWKS key verifies must not leave the broker (RFC 7515 §5.2 is what
// every relying party will run). The broker answers 503
// temporarily_unavailable and the next, honest answer is a token again.
func TestKMSSignatureOverAnotherDigestIsNoToken(t *testing.T) {
	t.Parallel()
	srv := kmstest.New("AKIDKMSREVKMS", "kms-revkms-secret", "us-east-1")
	defer srv.Close()
	opt, _ := kmsSigning(t, srv, &kmsClock{}, broker.NewMetrics(), nil)
	e := newEnv(t, opt)
	secret := e.client(&backends.Client{ClientID: "kms-lied-to", Scope: "read"})

	srv.SignOtherDigest(1)
	r, err := requestToken(e, "kms-lied-to", secret)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusServiceUnavailable || r.body["error"] != "temporarily_unavailable" || r.body["access_token"] != nil || r.retryAfter == "" {
		if tok, _ := r.body["access_token"].(string); tok != "" {
			e.handedOut = append(e.handedOut, tok)
		}
		t.Fatalf("signature over another digest: %d %v Retry-After %q", r.status, r.body, r.retryAfter)
	}

	r, err = requestToken(e, "kms-lied-to", secret)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("after the lie: %v %d %v", err, r.status, r.body)
	}
	tok := r.body["access_token"].(string)
	e.handedOut = append(e.handedOut, tok)
	verifyWithJWX(t, e, tok)
}

// A key whose GetPublicKey answer is not of its KeySpec's type (an RSA
// key under ECC_NIST_P256: a lying endpoint) is never published: the JWKS
// must not carry {"kty":"RSA","alg":"ES256"} (RFC 7518 §3.1, §6: alg and
// kty go together), which relying parties refuse — some the whole set. An
// alias moved to such a key by hand leaves the last good set in place.
func TestKMSPublicKeyOfAnotherTypeIsNotPublished(t *testing.T) {
	t.Parallel()
	srv := kmstest.New("AKIDKMSREVKMS", "kms-revkms-secret", "us-east-1")
	defer srv.Close()
	opt, _ := kmsSigning(t, srv, &kmsClock{}, broker.NewMetrics(), nil)
	e := newEnv(t, opt)
	secret := e.client(&backends.Client{ClientID: "kms-type", Scope: "read"})

	ctx := context.Background()
	c := srv.Client()
	k1, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/tokenbroker")})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetPublicKey(aws.ToString(k2.KeyMetadata.KeyId), rk.Public())
	before := srv.Calls("GetPublicKey")
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/tokenbroker-previous"), TargetKeyId: k1.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/tokenbroker"), TargetKeyId: k2.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the keyring to read the moved alias", func() bool { return srv.Calls("GetPublicKey") > before })
	// The keyring re-reads one set at a time: two more reads started
	// (DescribeKey of the alias and of -previous each) mean the one that
	// met the bad key has ended, built or refused.
	d := srv.Calls("DescribeKey")
	testkit.WaitFor(t, "the keyring's next reads", func() bool { return srv.Calls("DescribeKey") > d+3 })

	resp, err := e.http.Get(e.issuer + broker.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kty, Alg, Crv, Kid string } `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Alg != "ES256" || k.Kty != "EC" || k.Crv != "P-256" {
			t.Fatalf("JWKS publishes %+v under ES256: %+v", k, set.Keys)
		}
	}
	r, err := requestToken(e, "kms-type", secret)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("token after the bad key appeared: %v %d %v", err, r.status, r.body)
	}
	tok := r.body["access_token"].(string)
	e.handedOut = append(e.handedOut, tok)
	verifyWithJWX(t, e, tok)
}
