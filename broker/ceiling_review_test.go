package broker_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
)

// REVIEW: an operator-created, self-managing client with the broker's default
// token lifetime (access_token_lifetime 0: ceiling 0) can PUT any lifetime up
// to the global maximum. The ceiling treats 0 as "no bound" although the
// operator granted the default (5 minutes here), so RFC 7592 management
// widens the token lifetime the operator set — 15-minute tokens instead of 5.
func TestReviewSelfUpdateCannotWidenDefaultLifetime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "svc-default-life", Scope: "read", AllowedResources: []string{audience}}, broker.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, r.Secret, r.RegistrationToken)
	life := func() float64 {
		resp, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("svc-default-life", r.Secret))
		if resp.StatusCode != 200 {
			t.Fatalf("token: %d %v", resp.StatusCode, b)
		}
		return b["expires_in"].(float64)
	}
	before := life()
	status, code, body := e.putMeta("svc-default-life", r.RegistrationToken, map[string]any{"access_token_lifetime": 900})
	after := life()
	if status == 200 || after > before {
		t.Fatalf("self-update widened the operator's lifetime: PUT %d %q %v; expires_in %v -> %v", status, code, body["access_token_lifetime"], before, after)
	}
}
