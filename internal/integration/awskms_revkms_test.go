package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/signing"
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

// lagging is a replica that has not re-read its signing source yet: while
// held, SigningSet answers the set it had (keys.refresh has not come).
type lagging struct {
	signing.Manager
	mu   sync.Mutex
	held *signing.Set
}

func (l *lagging) SigningSet(ctx context.Context) (*signing.Set, error) {
	l.mu.Lock()
	held := l.held
	l.mu.Unlock()
	if held != nil {
		return held, nil
	}
	return l.Manager.SigningSet(ctx)
}

func (l *lagging) hold(t *testing.T) {
	set, err := l.Manager.SigningSet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.held = set
	l.mu.Unlock()
}

func (l *lagging) release() { l.mu.Lock(); l.held = nil; l.mu.Unlock() }

// Publish before use must count the time a replica serves its JWKS before
// it re-reads the aliases (keys.refresh, 30 s by default): a relying party
// that fetched the JWKS (Cache-Control max-age = keys.jwks_max_age, RFC
// 9111 §5.2.2.1) from a replica that had not yet seen the alias move keeps
// it until that fetch + jwks_max_age, so the new key may sign only after
// the move + jwks_max_age + keys.refresh. Here the replica sees the move
// 20 s late; 1 s after move + jwks_max_age, every token must still carry
// a kid of the set the relying party holds.
func TestKMSPublishBeforeUseCountsTheRefreshLag(t *testing.T) {
	t.Parallel()
	srv := kmstest.New("AKIDKMSREVKMS", "kms-revkms-secret", "us-east-1")
	defer srv.Close()
	clk := &kmsClock{}
	srv.SetClock(clk.Now)
	opt, m := kmsSigning(t, srv, clk, broker.NewMetrics(), nil)
	lag := &lagging{Manager: m}
	e := newEnv(t, opt, func(c *broker.Config, _ *cache.Options) { c.Signing = lag })
	secret := e.client(&backends.Client{ClientID: "kms-lag", Scope: "read"})
	const publishDelay = 5 * time.Minute // kmsSigning's

	lag.hold(t)
	if err := m.Rotate(context.Background(), false); err != nil { // the alias moves at U
		t.Fatal(err)
	}
	clk.Advance(20 * time.Second) // U + 20 s: this replica has not re-read yet
	cached := map[string]bool{}   // what a relying party fetching now keeps for jwks_max_age
	for _, k := range e.jwks().Keys {
		cached[k.KeyID] = true
	}
	lag.release()
	testkit.WaitFor(t, "the replica to publish the next key", func() bool { return len(e.jwks().Keys) == 2 })

	clk.Advance(publishDelay - 19*time.Second) // U + jwks_max_age + 1 s: the cache above is still fresh
	d := srv.Calls("DescribeKey")
	testkit.WaitFor(t, "the keyring's next reads", func() bool { return srv.Calls("DescribeKey") > d+3 })
	r, err := requestToken(e, "kms-lag", secret)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("token: %v %d %v", err, r.status, r.body)
	}
	tok := r.body["access_token"].(string)
	e.handedOut = append(e.handedOut, tok)
	if kid := headerKid(t, tok); !cached[kid] {
		t.Fatalf("token signed by %s, which the relying party's JWKS (fetched 20 s after the alias moved, still fresh) lacks: %v", kid, cached)
	}
}

func headerKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}
