package backends_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
)

func TestFederatedSubjectStrict(t *testing.T) {
	t.Parallel()
	ok := `{"federated_subject":{"iss":"https://kube.example","sub":"system:serviceaccount:ns:sa"}}`
	c, err := backends.DecodeClient([]byte(ok))
	if err != nil || c.FederatedSubject == nil || c.FederatedSubject.Subject != "system:serviceaccount:ns:sa" {
		t.Fatalf("DecodeClient(%s) = %+v, %v", ok, c, err)
	}
	long := strings.Repeat("a", backends.MaxFederatedSubject+1)
	for name, tc := range map[string]struct{ doc, member string }{
		"case variant":     {`{"federated_subject":{"iss":"https://a.example","sub":"x","SUB":"admin"}}`, "federated_subject.SUB"},
		"upper-case only":  {`{"federated_subject":{"ISS":"https://a.example","sub":"x"}}`, "federated_subject.ISS"},
		"duplicate":        {`{"federated_subject":{"iss":"https://a.example","sub":"x","sub":"y"}}`, "federated_subject.sub"},
		"escaped dup":      {`{"federated_subject":{"iss":"https://a.example","sub":"x","s\u0075b":"y"}}`, "federated_subject.sub"},
		"nested":           {`{"federated_subject":{"iss":"https://a.example","sub":{"a":1}}}`, "federated_subject"},
		"not a string":     {`{"federated_subject":{"iss":"https://a.example","sub":5}}`, "federated_subject.sub"},
		"http issuer":      {`{"federated_subject":{"iss":"http://a.example","sub":"x"}}`, "federated_subject"},
		"issuer fragment":  {`{"federated_subject":{"iss":"https://a.example#x","sub":"x"}}`, "federated_subject"},
		"missing sub":      {`{"federated_subject":{"iss":"https://a.example"}}`, "federated_subject"},
		"sub too long":     {`{"federated_subject":{"iss":"https://a.example","sub":"` + long + `"}}`, "federated_subject"},
		"member variant":   {`{"federated_subject":{"iss":"https://a.example","sub":"x"},"Federated_Subject":{}}`, "Federated_Subject"},
		"array not object": {`{"federated_subject":[]}`, "federated_subject"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := backends.DecodeClient([]byte(tc.doc))
			var me *backends.MemberError
			if !errors.As(err, &me) || me.Member != tc.member {
				t.Fatalf("DecodeClient = %+v, %v; want a MemberError naming %q", c, err, tc.member)
			}
			var via backends.Client
			if err := json.Unmarshal([]byte(tc.doc), &via); err == nil {
				t.Fatalf("json.Unmarshal accepted it: %+v", via)
			}
		})
	}
	// A record built in code with a subject no request could match is never written.
	bad := &backends.Client{ClientID: "x", TokenEndpointAuthMethod: backends.AuthFederatedJWT, FederatedSubject: &backends.FederatedSubject{Issuer: "http://x", Subject: "s"}}
	if _, err := json.Marshal(bad); err == nil {
		t.Fatal("a record with an http federated issuer was marshalled")
	}
	// Clone copies the subject, never shares it.
	good := &backends.Client{ClientID: "x", FederatedSubject: &backends.FederatedSubject{Issuer: "https://a", Subject: "s"}}
	cl := good.Clone()
	cl.FederatedSubject.Subject = "other"
	if good.FederatedSubject.Subject != "s" {
		t.Fatal("Clone shares FederatedSubject")
	}
}
