package authn_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
)

func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func TestParseBasic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, id, secret string
		present                  bool
		err                      error
	}{
		{"absent", "", "", "", false, nil},
		{"plain", basicHeader("a", "b"), "a", "b", true, nil},
		{"form-encoded specials", basicHeader("a:b c", "p+w%d:é"), "a:b c", "p+w%d:é", true, nil},
		{"plus is space", "Basic " + base64.StdEncoding.EncodeToString([]byte("a+b:c+d")), "a b", "c d", true, nil},
		{"lowercase scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), "a", "b", true, nil},
		{"bearer", "Bearer x", "", "", true, authn.ErrInvalidClient},
		{"not base64", "Basic %%%", "", "", true, authn.ErrInvalidRequest},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("ab")), "", "", true, authn.ErrInvalidRequest},
		{"bad escape", "Basic " + base64.StdEncoding.EncodeToString([]byte("a%zz:b")), "", "", true, authn.ErrInvalidRequest},
		{"empty id", "Basic " + base64.StdEncoding.EncodeToString([]byte(":b")), "", "", true, authn.ErrInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, present, err := authn.ParseBasic(tc.header)
			if !errors.Is(err, tc.err) || (tc.err == nil && (id != tc.id || secret != tc.secret)) || present != tc.present {
				t.Fatalf("ParseBasic = %q %q %v %v", id, secret, present, err)
			}
		})
	}
}

func TestVerifySecret(t *testing.T) {
	t.Parallel()
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	set := &backends.SecretSet{Secrets: []backends.Secret{
		{Hash: backends.HashSecret("current")},
		{Hash: backends.HashSecret("rotating-out"), ExpiresAt: &future},
		{Hash: backends.HashSecret("expired"), ExpiresAt: &past},
		{Plain: "team-managed"},
		{Hash: "md5:garbage"},
	}}
	for secret, want := range map[string]bool{"current": true, "rotating-out": true, "expired": false, "team-managed": true, "": false, "garbage": false, "Current": false} {
		if got := authn.VerifySecret(secret, set, now); got != want {
			t.Errorf("VerifySecret(%q) = %v, want %v", secret, got, want)
		}
	}
	if authn.VerifySecret("", &backends.SecretSet{Secrets: []backends.Secret{{Plain: ""}}}, now) {
		t.Error("empty secret accepted")
	}
}

type source map[string]*backends.ClientEntry

func (s source) Get(_ context.Context, id string) (*backends.ClientEntry, error) {
	if e, ok := s[id]; ok {
		return e, nil
	}
	return nil, backends.ErrNotFound
}

// Exactly one method, and the registered one (docs/security.md, the first invariant).
func TestExactlyOneRegisteredMethod(t *testing.T) {
	t.Parallel()
	src := source{
		"b": {Client: &backends.Client{ClientID: "b", TokenEndpointAuthMethod: backends.AuthClientSecretBasic}, Secrets: &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("s")}}}},
		"p": {Client: &backends.Client{ClientID: "p", TokenEndpointAuthMethod: backends.AuthClientSecretPost}, Secrets: &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("s")}}}},
	}
	a, err := authn.New(src, []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  authn.Request
		want error
	}{
		{"basic ok", authn.Request{Authorization: basicHeader("b", "s")}, nil},
		{"post ok", authn.Request{Form: url.Values{"client_id": {"p"}, "client_secret": {"s"}}}, nil},
		{"both", authn.Request{Authorization: basicHeader("b", "s"), Form: url.Values{"client_id": {"b"}, "client_secret": {"s"}}}, authn.ErrInvalidRequest},
		{"downgrade post→basic", authn.Request{Authorization: basicHeader("p", "s")}, authn.ErrInvalidClient},
		{"downgrade basic→post", authn.Request{Form: url.Values{"client_id": {"b"}, "client_secret": {"s"}}}, authn.ErrInvalidClient},
		{"none", authn.Request{Form: url.Values{"client_id": {"b"}}}, authn.ErrInvalidClient},
		{"unknown", authn.Request{Authorization: basicHeader("x", "s")}, authn.ErrInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := a.Authenticate(ctx, &tc.req)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (res != nil) {
				t.Fatalf("Authenticate = %v, %v; want %v", res, err, tc.want)
			}
		})
	}
}

func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"", basicHeader("a", "b"), "Basic YTpi", "Basic ", "basic Og==", "Bearer x", "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:%"))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, secret, present, err := authn.ParseBasic(h)
		if err != nil {
			if !errors.Is(err, authn.ErrInvalidRequest) && !errors.Is(err, authn.ErrInvalidClient) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if !present {
			if h != "" {
				t.Fatalf("non-empty header %q not present", h)
			}
			return
		}
		if id == "" {
			t.Fatal("accepted an empty client id")
		}
		// Re-encoding what was parsed parses to the same values (when it still fits the limit).
		again := basicHeader(id, secret)
		if len(again) > authn.MaxAuthorizationLen {
			return
		}
		id2, secret2, _, err := authn.ParseBasic(again)
		if err != nil || id2 != id || secret2 != secret {
			t.Fatalf("round trip: %q %q → %q %q %v", id, secret, id2, secret2, err)
		}
	})
}

func BenchmarkVerifySecret(b *testing.B) {
	s := "Fq0sM8y2r0WbQ6pJcS0yN6dE4kZ1uVxA9tH3gL5oI7w"
	set := &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("old")}, {Hash: backends.HashSecret(s)}}}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if !authn.VerifySecret(s, set, now) {
			b.Fatal("refused")
		}
	}
}
