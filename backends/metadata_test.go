package backends_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
)

func TestDecodeClientRefuses(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 16) + strings.Repeat("]", 16)
	tests := []struct {
		name, doc, member string
	}{
		{"case variant", `{"scope":"read","Scope":"read admin"}`, "Scope"},
		{"case variant first", `{"Scope":"read admin","scope":"read"}`, "Scope"},
		{"long s U+017F", `{"scope":"read","ſcope":"admin"}`, "ſcope"},
		{"disabled variant", `{"disabled":true,"Diſabled":false}`, "Diſabled"},
		{"Kelvin sign U+212A", `{"to\u212Aen_endpoint_auth_method":"none"}`, "to\u212Aen_endpoint_auth_method"},
		{"upper-case only", `{"DISABLED":false}`, "DISABLED"},
		{"escaped variant", `{"\u0053cope":"admin"}`, "Scope"},
		{"duplicate", `{"scope":"read","scope":"admin"}`, "scope"},
		{"duplicate after unescaping", `{"scope":"read","sc\u006fpe":"admin"}`, "scope"},
		{"duplicate unknown", `{"x":1,"x":2}`, "x"},
		{"reserved client_secret", `{"client_secret":"mine"}`, "client_secret"},
		{"reserved variant", `{"Client_Secret":"mine"}`, "Client_Secret"},
		{"reserved registration_client_uri", `{"registration_client_uri":"https://x"}`, "registration_client_uri"},
		{"stored hash", `{"registration_token_hash":"sha256:x"}`, "registration_token_hash"},
		{"too deep", `{"x":` + deep + `}`, "(body)"},
		{"member too large", `{"x":"` + strings.Repeat("a", backends.MaxMemberBytes) + `"}`, "x"},
		{"document too large", `{"a":"` + strings.Repeat("a", 60<<10) + `","b":"` + strings.Repeat("a", 60<<10) + `","c":"` + strings.Repeat("a", 10<<10) + `"}`, "(body)"},
		{"wrong type", `{"scope":5}`, "scope"},
		{"not an object", `[]`, "(body)"},
		{"null", `null`, "(body)"},
		{"trailing data", `{} {}`, "(body)"},
		{"not UTF-8", "{\"x\":\"\xff\"}", "(body)"},
		{"ceiling variant", `{"operator_ceiling":{"scope":"read","Scope":"admin"}}`, "operator_ceiling.Scope"},
		{"ceiling duplicate", `{"operator_ceiling":{"scope":"read","scope":"admin"}}`, "operator_ceiling.scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := backends.DecodeClient([]byte(tc.doc))
			var me *backends.MemberError
			if !errors.As(err, &me) || me.Member != tc.member {
				t.Fatalf("DecodeClient = %+v, %v; want a MemberError naming %q", c, err, tc.member)
			}
			// Every json.Unmarshal of a record is the strict decoder.
			var via backends.Client
			if err := json.Unmarshal([]byte(tc.doc), &via); err == nil {
				t.Fatalf("json.Unmarshal accepted it: %+v", via)
			}
		})
	}
}

func TestDecodeClientKeepsUnknownMembersCompact(t *testing.T) {
	t.Parallel()
	c, err := backends.DecodeClient([]byte(`{ "client_id" : "a", "scope": "read", "x_team" : { "owner" : [ 1, 2 ] }, "software_id":"<id>" }`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "a" || c.Scope != "read" || string(c.Extra["x_team"]) != `{"owner":[1,2]}` {
		t.Fatalf("decoded %+v", c)
	}
	b, err := backends.MarshalCompact(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"client_id":"a","token_endpoint_auth_method":"","scope":"read","software_id":"<id>","x_team":{"owner":[1,2]}}`; string(b) != want {
		t.Fatalf("marshal:\n got %s\nwant %s", b, want)
	}
}

// A record built in code cannot smuggle a known, reserved or folded name
// through Extra, nor exceed the bounds: it would not load back.
func TestMarshalRefusesWhatDecodeRefuses(t *testing.T) {
	t.Parallel()
	for name, extra := range map[string]map[string]json.RawMessage{
		"known":         {"scope": json.RawMessage(`"admin"`)},
		"folded":        {"Scope": json.RawMessage(`"admin"`)},
		"reserved":      {"client_secret": json.RawMessage(`"mine"`)},
		"folded secret": {"CLIENT_SECRET": json.RawMessage(`"mine"`)},
		"too deep":      {"x": json.RawMessage(strings.Repeat("[", 16) + strings.Repeat("]", 16))},
		"too large":     {"x": json.RawMessage(`"` + strings.Repeat("a", backends.MaxMemberBytes) + `"`)},
		"invalid":       {"x": json.RawMessage(`{`)},
	} {
		if b, err := json.Marshal(&backends.Client{ClientID: "a", Extra: extra}); err == nil {
			t.Errorf("%s: marshalled %s", name, b)
		}
	}
}

func FuzzDecodeClient(f *testing.F) {
	for _, s := range []string{`{}`, `{"client_id":"a","scope":"read","x":{"y":[1,"<&>"]}}`, `{"Scope":"x"}`, `{"scope":"a","scope":"b"}`,
		`{"operator_ceiling":{"scope":"read"},"disabled":true}`, `{"jwks":{"keys":[{"kty":"EC"}]}}`, `{"access_token_lifetime":1e2}`, `{"x":"\u2028"}`,
		`{"federated_subject":{"iss":"https://k.example","sub":"system:serviceaccount:a:b"}}`, `{"federated_subject":{"iss":"https://k.example","sub":"a","SUB":"b"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := backends.DecodeClient([]byte(doc))
		if err != nil {
			var me *backends.MemberError
			if !errors.As(err, &me) || me.Member == "" {
				t.Fatalf("error without a member: %v", err)
			}
			return
		}
		b, err := backends.MarshalCompact(c)
		if err != nil {
			return // a record may grow past the bounds when re-encoded (\u2028); then it is never stored
		}
		again, err := backends.DecodeClient(b)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		if !reflect.DeepEqual(known(c), known(again)) {
			t.Fatalf("round trip changed a known member:\n%+v\n%+v", c, again)
		}
	})
}

// known is the record without its unknown members.
func known(c *backends.Client) backends.Client {
	k := *c.Clone()
	k.Extra = nil
	if len(k.JWKS) == 0 {
		k.JWKS = nil
	}
	return k
}
