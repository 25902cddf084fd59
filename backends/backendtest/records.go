package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
)

// hostileMembers: a record whose unknown members name a credential or
// management member, shadow a known member by letter case, or exceed the
// bounds is refused by the store's write; nothing of it is stored, and no
// secret comes of it (Secrets Manager keeps client_secret in the same document).
func hostileMembers(t *testing.T, s backends.Store) {
	ctx := context.Background()
	for name, extra := range map[string]map[string]json.RawMessage{
		"client_secret":                   {"client_secret": json.RawMessage(`"chosen-by-the-client"`)},
		"client_secrets":                  {"client_secrets": json.RawMessage(`[{"plain":"chosen-by-the-client"}]`)},
		"registration_token_hash":         {"registration_token_hash": json.RawMessage(`"sha256:x"`)},
		"case variant of a secret member": {"Client_Secret": json.RawMessage(`"chosen-by-the-client"`)},
		"case variant of scope":           {"Scope": json.RawMessage(`"read admin"`)},
		"U+017F variant of disabled":      {"diſabled": json.RawMessage(`false`)},
		"known name in Extra":             {"scope": json.RawMessage(`"admin"`)},
		"deeper than 16":                  {"x": json.RawMessage(strings.Repeat("[", 16) + strings.Repeat("]", 16))},
		"member over 64 KiB":              {"x": json.RawMessage(`"` + strings.Repeat("a", backends.MaxMemberBytes) + `"`)},
	} {
		t.Run(name, func(t *testing.T) {
			c := sample("hostile")
			c.Extra = extra
			if err := s.CreateClient(ctx, c); err == nil {
				t.Fatal("CreateClient stored it")
			}
			if _, err := s.GetClient(ctx, "hostile"); !errors.Is(err, backends.ErrNotFound) {
				t.Fatalf("GetClient after a refused create = %v, want ErrNotFound", err)
			}
			if set, err := s.GetSecrets(ctx, "hostile"); err == nil {
				t.Fatalf("a refused record left secrets: %+v", set)
			}
		})
	}
	// The same through an update of a stored record: refused, record unchanged.
	if err := s.CreateClient(ctx, sample("hostile")); err != nil {
		t.Fatal(err)
	}
	cur, err := s.GetClient(ctx, "hostile")
	if err != nil {
		t.Fatal(err)
	}
	bad := cur.Clone()
	bad.Revision = cur.Revision
	bad.Extra = map[string]json.RawMessage{"client_secret": json.RawMessage(`"chosen-by-the-client"`)}
	if err := s.UpdateClient(ctx, bad); err == nil {
		t.Fatal("UpdateClient stored a client_secret member")
	}
	if set, err := s.GetSecrets(ctx, "hostile"); err == nil && len(set.Secrets) > 0 {
		t.Fatalf("metadata became a secret: %+v", set)
	}
}

// boundedRoundTrip: members at the bounds are stored compact and come back unchanged.
func boundedRoundTrip(t *testing.T, s backends.Store) {
	c := sample("bounded")
	c.Extra["x_deep"] = json.RawMessage(strings.Repeat("[", backends.MaxDepth-1) + strings.Repeat("]", backends.MaxDepth-1))
	c.Extra["x_html"] = json.RawMessage(`"` + strings.Repeat("<&>", 20<<10) + `"`)
	c.DPoPBoundAccessTokens = true // RFC 9449 §5.2, in the record and the ceiling
	c.Ceiling = backends.CeilingOf(c)
	RoundTrip(t, s, c)
}

// RoundTrip stores c and checks that a load returns every member unchanged.
// A fuzz target feeds it strictly decoded documents.
func RoundTrip(t *testing.T, s backends.Store, c *backends.Client) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateClient(ctx, c); err != nil {
		var me *backends.MemberError
		if errors.As(err, &me) {
			return // refused as a whole, never stored in part
		}
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(ctx, c.ClientID)
	if err != nil {
		t.Fatalf("GetClient after CreateClient: %v", err)
	}
	got.Revision = ""
	want := c.Clone()
	want.Revision = ""
	if len(want.JWKS) == 0 {
		want.JWKS = nil
	}
	if len(got.JWKS) == 0 {
		got.JWKS = nil
	}
	for _, m := range []*backends.Client{want, got} {
		if len(m.Extra) == 0 {
			m.Extra = nil
		}
		if len(m.GrantTypes) == 0 {
			m.GrantTypes = nil
		}
		if len(m.ResponseTypes) == 0 {
			m.ResponseTypes = nil
		}
		if len(m.AllowedResources) == 0 {
			m.AllowedResources = nil
		}
		if m.Ceiling != nil && len(m.Ceiling.AllowedResources) == 0 {
			m.Ceiling.AllowedResources = nil
		}
	}
	if !reflect.DeepEqual(want, got) {
		wb, _ := backends.MarshalCompact(want)
		gb, _ := backends.MarshalCompact(got)
		t.Fatalf("store → load changed the record:\nstored %s\nloaded %s", wb, gb)
	}
	if err := s.DeleteClient(ctx, c.ClientID); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
}

// invalidRecords: a stored record that does not decode strictly — after the
// backend's own key sorting (Vault returns members sorted, so "Scope" comes
// before "scope" and "ſcope" after it) — refuses that one client with
// ErrInvalidRecord: not ErrNotFound, not an outage, and nothing of it is used.
func invalidRecords(t *testing.T, s backends.Store, raw Raw) {
	ctx := context.Background()
	if err := s.CreateClient(ctx, sample("good")); err != nil {
		t.Fatal(err)
	}
	base := func(id, more string) string {
		return `{"client_id":"` + id + `","token_endpoint_auth_method":"client_secret_basic","scope":"read"` + more + `}`
	}
	tests := []struct {
		name, doc string
		dup       bool
	}{
		{"Scope after sorting first", base("v1", `,"Scope":"read admin"`), false},
		{"long s U+017F sorts last", base("v2", `,"ſcope":"read admin"`), false},
		{"disabled variant", base("v3", `,"disabled":true,"Diſabled":false`), false},
		{"Kelvin sign U+212A", base("v4", `,"to`+"\u212a"+`en_endpoint_auth_method":"private_key_jwt"`), false},
		{"case variant of a secret member", base("v5", `,"Client_Secret":"chosen-by-the-client"`), false},
		{"nested deeper than 16", base("v6", `,"x":`+strings.Repeat("[", 16)+strings.Repeat("]", 16)), false},
		{"wrong type", `{"client_id":"v7","token_endpoint_auth_method":"client_secret_basic","scope":5}`, false},
		{"another client_id", base("someone-else", ""), false},
		{"ceiling variant", base("v9", `,"operator_ceiling":{"scope":"read","Scope":"admin"}`), false},
		{"duplicate member", base("v10", `,"scope":"read admin"`), true},
		// Size is a problem of the record, not of the backend (review 2 item 5).
		{"larger than MaxRecordBytes", base("v11", `,"client_name":"`+strings.Repeat("x", backends.MaxRecordBytes)+`"`), false},
		{"larger than 1 MiB", base("v12", `,"client_name":"`+strings.Repeat("x", 1<<20)+`"`), false},
		// RFC 9449 §5.2: a DPoP requirement that a case variant or a string could hide.
		{"dpop_bound_access_tokens variant", base("v13", `,"dpop_bound_access_tokens":true,"DPoP_bound_access_tokens":false`), false},
		{"dpop_bound_access_tokens a string", base("v14", `,"dpop_bound_access_tokens":"false"`), false},
	}
	for i, tc := range tests {
		id := []string{"v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14"}[i]
		t.Run(tc.name, func(t *testing.T) {
			if tc.dup && raw.CollapsesDuplicates {
				t.Skip("the backend collapses duplicate members when it parses a write")
			}
			if err := raw.Write(t, s, id, []byte(tc.doc)); err != nil {
				t.Skipf("the backend cannot hold this document: %v", err)
			}
			c, err := s.GetClient(ctx, id)
			if !errors.Is(err, backends.ErrInvalidRecord) {
				t.Fatalf("GetClient = %+v, %v; want ErrInvalidRecord", c, err)
			}
			if errors.Is(err, backends.ErrUnavailable) || errors.Is(err, backends.ErrNotFound) {
				t.Fatalf("an invalid record reads as an outage or as missing: %v", err)
			}
			if g, err := s.GetClient(ctx, "good"); err != nil || g.Scope != "read write" {
				t.Fatalf("another client after an invalid record: %+v, %v", g, err)
			}
			if ids, err := s.ListClients(ctx); err != nil || !slices.Contains(ids, id) {
				t.Fatalf("ListClients = %v, %v", ids, err)
			}
			if err := s.DeleteClient(ctx, id); err != nil {
				t.Fatalf("an operator cannot delete the invalid record: %v", err)
			}
		})
	}
}
