package awskms_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

const region = "eu-west-1"

func newServer(t *testing.T) *kmstest.Server {
	t.Helper()
	srv := kmstest.New("AKIDKMSTEST", "kms-test-secret", region)
	t.Cleanup(srv.Close)
	return srv
}

// createKey makes a key of spec behind alias with the real SDK; it returns the key ARN.
func createKey(t *testing.T, srv *kmstest.Server, spec, alias string) string {
	t.Helper()
	ctx := context.Background()
	c := srv.Client()
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	if alias != "" {
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// clock is a settable clock for alias ages.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// newClockedServer is a KMS fake whose clock (key and alias dates) is clk,
// which the test moves.
func newClockedServer(t *testing.T) (*kmstest.Server, *clock) {
	t.Helper()
	srv := newServer(t)
	clk := &clock{}
	srv.SetClock(clk.Now)
	return srv, clk
}

// openAt opens an ES256 source on alias/tb of srv that reads the time from clk.
func openAt(t *testing.T, srv *kmstest.Server, clk *clock) *awskms.Source {
	t.Helper()
	return open(t, srv, "ES256", "alias/tb", func(s *awskms.Settings) { s.Now = clk.Now })
}

func open(t *testing.T, srv *kmstest.Server, alg, key string, set ...func(*awskms.Settings)) *awskms.Source {
	t.Helper()
	s := awskms.Settings{Key: key, Endpoint: srv.URL, AWS: srv.AWSConfig()}
	for _, f := range set {
		f(&s)
	}
	m, err := signing.Open(context.Background(), nil, signing.Options{Source: awskms.SigningSource, Alg: alg,
		PublishDelay: 5 * time.Minute, MaxLifetime: 15 * time.Minute, Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m.(*awskms.Source)
}

// signAndVerify signs a JWS through a Keyring and verifies it with jwx
// (an independent JOSE library) against the Keyring's JWKS.
func signAndVerify(t *testing.T, ring *signing.Keyring) {
	t.Helper()
	a := ring.Active()
	payload := []byte(`{"sub":"x"}`)
	enc := a.Header + "." + b64(payload)
	sig, err := a.Sign(context.Background(), []byte(enc))
	if err != nil {
		t.Fatal(err)
	}
	tok := enc + "." + b64(sig)
	set, err := jwk.Parse(ring.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	got, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil || string(got) != string(payload) {
		t.Fatalf("jwx does not verify the %s token: %v", a.Alg(), err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestSignsEveryAlgorithm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ alg, spec string }{{"ES256", "ECC_NIST_P256"}, {"RS256", "RSA_2048"}, {"PS256", "RSA_3072"}} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			arn := createKey(t, srv, tc.spec, "alias/tb")
			m := open(t, srv, tc.alg, "alias/tb")
			if created, err := m.Ensure(context.Background()); err != nil || created {
				t.Fatalf("Ensure = %v, %v", created, err)
			}
			ring, err := signing.NewKeyring(context.Background(), m, signing.WithType("at+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			defer ring.Close()
			if kid := ring.Active().KeyID(); !strings.HasPrefix(kid, "kms-") || strings.Contains(string(ring.JWKS()), kmstest.Account) || strings.Contains(kid, arn) {
				t.Fatalf("kid %s / JWKS %s reveals the ARN", kid, ring.JWKS())
			}
			before := srv.Calls("Sign")
			for range 20 {
				signAndVerify(t, ring)
			}
			if n := srv.Calls("Sign") - before; n != 20 {
				t.Fatalf("%d KMS Sign calls for 20 signatures, want 20", n)
			}
		})
	}
}

func TestStartupCheckNamesKeyAndPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(srv *kmstest.Server)
		want  []string
	}{
		{"disabled", func(srv *kmstest.Server) { srv.SetKeyState("alias/tb", "Disabled") }, []string{"alias/tb", "disabled"}},
		{"pending deletion", func(srv *kmstest.Server) { srv.SetKeyState("alias/tb", "PendingDeletion") }, []string{"alias/tb", "PendingDeletion"}},
		{"no kms:Sign", func(srv *kmstest.Server) { srv.Deny("Sign") }, []string{"kms:Sign", "arn:aws:kms:"}},
		{"no kms:GetPublicKey", func(srv *kmstest.Server) { srv.Deny("GetPublicKey") }, []string{"kms:GetPublicKey", "arn:aws:kms:"}},
		{"no kms:DescribeKey", func(srv *kmstest.Server) { srv.Deny("DescribeKey") }, []string{"kms:DescribeKey", "alias/tb"}},
		{"missing alias, no kms:CreateKey", func(srv *kmstest.Server) { srv.Deny("CreateKey") }, []string{"alias/other", "not found", "kms:CreateKey", "keys rotate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			createKey(t, srv, "ECC_NIST_P256", "alias/tb")
			tc.setup(srv)
			key := "alias/tb"
			if strings.HasPrefix(tc.name, "missing alias") {
				key = "alias/other"
			}
			_, err := open(t, srv, "ES256", key).Ensure(ctx)
			if err == nil {
				t.Fatal("start-up check passed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("wrong key type", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		createKey(t, srv, "RSA_2048", "alias/tb")
		if _, err := open(t, srv, "ES256", "alias/tb").Ensure(ctx); err == nil || !strings.Contains(err.Error(), "RSA_2048") {
			t.Fatalf("RSA key for ES256: %v", err)
		}
	})
	t.Run("wrong secret key (SigV4)", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		createKey(t, srv, "ECC_NIST_P256", "alias/tb")
		bad := srv.AWSConfig()
		bad.Credentials = kmstest.New("AKIDKMSTEST", "wrong", region).AWSConfig().Credentials
		_, err := open(t, srv, "ES256", "alias/tb", func(s *awskms.Settings) { s.AWS = bad }).Ensure(ctx)
		if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
			t.Fatalf("wrong secret: %v", err)
		}
	})
}

// Rotation through the alias: the new key is published at once and signs
// only after PublishDelay; the previous key stays published until its
// tokens have expired; rotating sooner is refused unless forced.
func TestRotationPublishesBeforeUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, clk := newClockedServer(t)
	m := openAt(t, srv, clk)
	if created, err := m.Ensure(ctx); err != nil || !created { // the first key, and the alias
		t.Fatalf("Ensure = %v, %v", created, err)
	}
	if created, err := m.Ensure(ctx); err != nil || created {
		t.Fatalf("second Ensure = %v, %v", created, err)
	}
	first, err := m.SigningSet(ctx)
	if err != nil || len(first.Published) != 1 {
		t.Fatalf("first set: %+v, %v", first, err)
	}
	if err := m.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	states := func() []string {
		list, err := m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range list {
			out = append(out, k.State)
		}
		return out
	}
	set, _ := m.SigningSet(ctx)
	if set.Active.KeyID() != first.Active.KeyID() || len(set.Published) != 2 {
		t.Fatalf("right after the alias moved: active %s (want the old %s), %d published", set.Active.KeyID(), first.Active.KeyID(), len(set.Published))
	}
	if got := strings.Join(states(), ","); got != "active,next" {
		t.Fatalf("states %s, want active,next", got)
	}
	if err := m.Rotate(ctx, false); !errors.Is(err, signing.ErrTooSoon) {
		t.Fatalf("second rotation at once: %v, want ErrTooSoon", err)
	}
	clk.Advance(5*time.Minute + 30*time.Second) // jwks_max_age + the default RefreshLag
	set, _ = m.SigningSet(ctx)
	if set.Active.KeyID() == first.Active.KeyID() || len(set.Published) != 2 {
		t.Fatalf("after jwks_max_age: active %s, %d published", set.Active.KeyID(), len(set.Published))
	}
	if got := strings.Join(states(), ","); got != "retired,active" {
		t.Fatalf("states %s, want retired,active", got)
	}
	clk.Advance(16 * time.Minute)
	if set, _ = m.SigningSet(ctx); len(set.Published) != 1 {
		t.Fatalf("the retired key is still published after its tokens expired")
	}
	if err := m.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(states(), ","); got != "active,next" {
		t.Fatalf("states after the third rotation %s", got)
	}
	if err := m.Rotate(ctx, true); err != nil { // forced
		t.Fatal(err)
	}
	if n := srv.Calls("CreateKey"); n != 4 {
		t.Fatalf("%d keys created, want 4", n)
	}
}

// ThrottlingException: backoff, then the signature made within the wait;
// throttled beyond the wait: a *signing.UnavailableError with Retry-After,
// never a hang; afterwards signing recovers by itself.
func TestThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newServer(t)
	createKey(t, srv, "ECC_NIST_P256", "alias/tb")
	m := open(t, srv, "ES256", "alias/tb", func(s *awskms.Settings) { s.QueueWait = 2 * time.Second })
	set, err := m.SigningSet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	srv.Throttle(2)
	if _, err := set.Active.Sign(ctx, digest[:]); err != nil {
		t.Fatalf("two throttles within the wait: %v", err)
	}
	srv.ThrottleFor(time.Hour)
	_, err = set.Active.Sign(ctx, digest[:])
	var ue *signing.UnavailableError
	if !errors.As(err, &ue) || ue.RetryAfter < time.Second || !errors.Is(err, signing.ErrUnavailable) {
		t.Fatalf("throttled: %v, want an UnavailableError with RetryAfter", err)
	}
	srv.ThrottleFor(0)
	_, err = set.Active.Sign(ctx, digest[:])
	for i := 0; err != nil && i < 20; i++ { // the backoff window closes within 2s
		if !errors.As(err, &ue) {
			t.Fatalf("not unavailable: %v", err)
		}
		<-time.After(ue.RetryAfter / 4)
		_, err = set.Active.Sign(ctx, digest[:])
	}
	if err != nil {
		t.Fatalf("no recovery: %v", err)
	}
}

// Bounded concurrency: never more than Concurrency Sign calls in flight,
// never more than MaxQueue waiting; the rest refused at once.
func TestBoundedConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newServer(t)
	createKey(t, srv, "ECC_NIST_P256", "alias/tb")
	m := open(t, srv, "ES256", "alias/tb", func(s *awskms.Settings) { s.Concurrency, s.MaxQueue, s.QueueWait = 2, 4, 5*time.Second })
	set, err := m.SigningSet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetSignDelay(50 * time.Millisecond)
	var wg sync.WaitGroup
	var ok, refused atomic.Int32
	for range 40 {
		wg.Go(func() {
			_, err := set.Active.Sign(ctx, []byte("x"))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, signing.ErrUnavailable):
				refused.Add(1)
			default:
				t.Errorf("Sign: %v", err)
			}
		})
	}
	wg.Wait()
	if srv.MaxInFlight() > 2 {
		t.Errorf("%d Sign calls in flight, bound 2", srv.MaxInFlight())
	}
	if ok.Load() < 4 || refused.Load() == 0 || ok.Load()+refused.Load() != 40 {
		t.Errorf("%d signed, %d refused of 40", ok.Load(), refused.Load())
	}
	if int(ok.Load()) != srv.Calls("Sign") {
		t.Errorf("%d signatures, %d KMS calls", ok.Load(), srv.Calls("Sign"))
	}
}

// A KMS answer that is not a well-formed signature of the key's size is
// refused as unavailable: never handed out as a token's signature.
func TestMalformedSignatureRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ alg, spec string }{{"ES256", "ECC_NIST_P256"}, {"RS256", "RSA_2048"}} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			createKey(t, srv, tc.spec, "alias/tb")
			m := open(t, srv, tc.alg, "alias/tb")
			set, err := m.SigningSet(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			srv.CorruptSignatures(1)
			if sig, err := set.Active.Sign(context.Background(), []byte("x")); !errors.Is(err, signing.ErrUnavailable) {
				t.Fatalf("corrupt signature: %x, %v", sig, err)
			}
			if _, err := set.Active.Sign(context.Background(), []byte("x")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// keys rotate --to: the alias moves to a key made elsewhere, with the same
// publish-before-use rule; a key that cannot sign for the algorithm, a
// disabled one, an alias or the current key is refused.
func TestRotateToGivenKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newServer(t)
	createKey(t, srv, "ECC_NIST_P256", "alias/tb")
	given := createKey(t, srv, "ECC_NIST_P256", "")
	rsaKey := createKey(t, srv, "RSA_2048", "")
	disabled := createKey(t, srv, "ECC_NIST_P256", "")
	srv.SetKeyState(disabled, "Disabled")
	m := open(t, srv, "ES256", "alias/tb")
	before, _ := m.SigningSet(ctx)
	for _, bad := range []string{rsaKey, disabled, "alias/tb", ""} {
		if err := m.RotateTo(ctx, bad, false); err == nil {
			t.Errorf("RotateTo(%q) accepted", bad)
		}
	}
	if err := m.RotateTo(ctx, given, false); err != nil {
		t.Fatal(err)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 2 || list[0].State != "active" || list[1].State != "next" || list[1].Version != given {
		t.Fatalf("after RotateTo: %+v, %v", list, err)
	}
	if after, _ := m.SigningSet(ctx); after.Active.KeyID() != before.Active.KeyID() {
		t.Fatal("the given key signs before keys.jwks_max_age")
	}
	if err := m.RotateTo(ctx, given, true); err == nil {
		t.Error("RotateTo the current key accepted")
	}
	if n := srv.Calls("CreateKey"); n != 4 {
		t.Errorf("%d CreateKey calls; RotateTo must create none", n)
	}
}

// Replicas decide alike: every decision is read from KMS (the aliases and
// their LastUpdatedDate), so two brokers that never talk publish the same
// keys and sign with the same one, before and after the switch.
func TestReplicasAgree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, clk := newClockedServer(t)
	a, b := openAt(t, srv, clk), openAt(t, srv, clk)
	if _, err := a.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		sa, err := a.SigningSet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := b.SigningSet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kids := func(s *signing.Set) (out []string) {
			for _, p := range s.Published {
				out = append(out, p.KID)
			}
			return out
		}
		if sa.Active.KeyID() != sb.Active.KeyID() || strings.Join(kids(sa), ",") != strings.Join(kids(sb), ",") {
			t.Fatalf("%s: replica a signs with %s and publishes %v; b %s and %v", when, sa.Active.KeyID(), kids(sa), sb.Active.KeyID(), kids(sb))
		}
	}
	same("first key")
	if err := b.Rotate(ctx, false); err != nil { // rotated through the other replica
		t.Fatal(err)
	}
	same("after the alias moved")
	clk.Advance(5*time.Minute + 30*time.Second)
	same("after jwks_max_age")
	clk.Advance(16 * time.Minute)
	same("after the previous key's tokens expired")
}
