package integration_test

import (
	"net/http"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/broker"
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
