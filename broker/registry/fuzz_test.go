package registry_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/registry"
)

func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"client_name":"x","scope":"a b","x_y":{"z":[1,2]}}`, `{"jwks":{"keys":[]}}`, `{"scope":5}`, `[]`, `{"grant_types":"x"}`, `null`,
		`{"scope":"read","Scope":"admin"}`, `{"ſcope":"admin"}`, `{"Diſabled":false}`, `{"toKen_endpoint_auth_method":"x"}`, `{"scope":"a","scope":"b"}`,
		`{"client_secret":"x"}`, `{"disabled":true}`, `{"operator_ceiling":{}}`, `{"x":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}`, `{"scope":"a"}`} {
		f.Add(s)
	}
	reg := registry.New(nil, registry.Config{Methods: []string{backends.AuthClientSecretBasic, backends.AuthPrivateKeyJWT, backends.AuthTLSClient}})
	f.Fuzz(func(t *testing.T, body string) {
		md, err := registry.DecodeMetadata([]byte(body))
		if err != nil {
			var me *registry.MetadataError
			if !errors.As(err, &me) || me.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		// No accepted member shadows a known or reserved one, or is the operator's.
		for name := range md.Extra {
			for _, k := range []string{"scope", "disabled", "client_secret", "token_endpoint_auth_method", "registration_client_uri", "operator_ceiling", "allowed_resources"} {
				if strings.EqualFold(name, k) {
					t.Fatalf("member %q accepted beside %q", name, k)
				}
			}
		}
		if md.Disabled || md.Ceiling != nil || md.ClientIDIssuedAt != 0 {
			t.Fatalf("a client set an operator member: %+v", md)
		}
		// Validation never panics, and a decoded record survives a round trip.
		md.ClientID = "fuzz"
		_ = reg.Validate(md)
		b, err := json.Marshal(md)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := registry.DecodeMetadata(b)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed:\n%s\n%s", b, b2)
		}
	})
}
