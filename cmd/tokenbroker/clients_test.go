package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// An operator-created client gets an RFC 7592 registration access token only
// with --self-manage; the operator's flags set the ceiling with the record;
// a --metadata file is decoded strictly.
func TestClientsSelfManageAndCeiling(t *testing.T) {
	cli := devCLI(t)
	type created struct {
		Client map[string]any `json:"client"`
		RAT    string         `json:"registration_access_token"`
	}
	parse := func(out string) created {
		t.Helper()
		var c created
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("output: %v %s", err, out)
		}
		return c
	}
	out, err := cli("clients", "create", "--id", "ops", "--scope", "read write")
	if err != nil {
		t.Fatal(err, out)
	}
	if c := parse(out); c.RAT != "" {
		t.Fatalf("a registration access token without --self-manage: %s", out)
	}
	out, err = cli("clients", "create", "--id", "team", "--scope", "read write", "--self-manage")
	if err != nil {
		t.Fatal(err, out)
	}
	c := parse(out)
	if c.RAT == "" || c.Client["operator_ceiling"].(map[string]any)["scope"] != "read write" {
		t.Fatalf("--self-manage: %s", out)
	}
	// The operator narrows the grant; an unrelated flag keeps it.
	if out, err = cli("clients", "update", "team", "--scope", "read"); err != nil {
		t.Fatal(err, out)
	}
	if out, err = cli("clients", "update", "team", "--disabled"); err != nil {
		t.Fatal(err, out)
	}
	out, err = cli("clients", "get", "team")
	var rec map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rec) != nil || rec["operator_ceiling"].(map[string]any)["scope"] != "read" || rec["disabled"] != true {
		t.Fatalf("after operator updates: %v %s", err, out)
	}
	// A flag given its zero value clears the member in the ceiling too; the
	// members no flag named are kept.
	ceiling := func() map[string]any {
		t.Helper()
		out, err := cli("clients", "get", "team")
		var rec map[string]any
		if err != nil || json.Unmarshal([]byte(out), &rec) != nil {
			t.Fatalf("get: %v %s", err, out)
		}
		return rec["operator_ceiling"].(map[string]any)
	}
	for _, tc := range []struct {
		flag  string
		bound any
	}{{"--bound-tokens", true}, {"--bound-tokens=false", nil}} {
		if out, err = cli("clients", "update", "team", tc.flag); err != nil {
			t.Fatal(err, out)
		}
		if g := ceiling(); g["tls_client_certificate_bound_access_tokens"] != tc.bound || g["scope"] != "read" {
			t.Fatalf("after %s: ceiling %v", tc.flag, g)
		}
	}
	// --dpop (RFC 9449 §5.2) sets the record and the ceiling alike.
	for _, tc := range []struct {
		flag string
		want any
	}{{"--dpop", true}, {"--dpop=false", nil}} {
		if out, err = cli("clients", "update", "team", tc.flag); err != nil {
			t.Fatal(err, out)
		}
		if g := ceiling(); g["dpop_bound_access_tokens"] != tc.want || g["scope"] != "read" {
			t.Fatalf("after %s: ceiling %v", tc.flag, g)
		}
	}
	// The certificate-match flags set the record and the ceiling alike.
	out, err = cli("clients", "create", "--id", "mtls", "--method", "tls_client_auth", "--tls-san-dns", "svc.example.test", "--tls-ca-sha256", strings.Repeat("ab", 32), "--self-manage")
	if err != nil {
		t.Fatal(err, out)
	}
	if c := parse(out); c.Client["tls_client_auth_san_dns"] != "svc.example.test" || c.Client["tls_client_auth_ca_sha256"] != strings.Repeat("ab", 32) {
		t.Fatalf("match flags: %s", out)
	}
	if out, err = cli("clients", "update", "mtls", "--tls-san-dns", "other.example.test"); err != nil {
		t.Fatal(err, out)
	}
	out, _ = cli("clients", "get", "mtls")
	var mrec map[string]any
	if json.Unmarshal([]byte(out), &mrec) != nil || mrec["tls_client_auth_san_dns"] != "other.example.test" ||
		mrec["operator_ceiling"].(map[string]any)["tls_client_auth_san_dns"] != "other.example.test" {
		t.Fatalf("--tls-san-dns did not set the record and its ceiling: %s", out)
	}
	// Strict decoding of the operator's file too.
	if err := os.WriteFile("md.json", []byte(`{"scope":"read","Scope":"read admin"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("clients", "create", "--id", "variant", "--metadata", "md.json"); err == nil || !strings.Contains(out+err.Error(), "Scope") {
		t.Fatalf("case variant in --metadata accepted: %v %s", err, out)
	}
}

// A self_signed_tls_client_auth client's certificate (its jwks, RFC 8705
// §2.2) is pinned in its ceiling, so its own RFC 7592 update cannot rebind
// it; the operator's clients update --jwks can, and re-pins it.
func TestClientsUpdateRebindsSelfSignedCertificate(t *testing.T) {
	cli := devCLI(t)
	writeJWKS := func(file, cn string) json.RawMessage {
		t.Helper()
		certPEM, _, err := certs.SelfSigned(certs.Leaf{CommonName: cn, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(certPEM)
		leaf, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: leaf.PublicKey, Certificates: []*x509.Certificate{leaf}, KeyID: cn}}})
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return b
	}
	pinned := func(out string) string {
		t.Helper()
		var r struct {
			Client struct {
				Ceiling map[string]any `json:"operator_ceiling"`
			} `json:"client"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("output: %v %s", err, out)
		}
		s, _ := r.Client.Ceiling["jwks_sha256"].(string)
		return s
	}
	first, second := writeJWKS("a.json", "ss-a"), writeJWKS("b.json", "ss-b")
	out, err := cli("clients", "create", "--id", "ss", "--method", "self_signed_tls_client_auth", "--jwks", "a.json", "--scope", "read", "--self-manage")
	if err != nil || pinned(out) != backends.JWKSDigest(first) {
		t.Fatalf("create: %v %s", err, out)
	}
	out, err = cli("clients", "update", "ss", "--jwks", "b.json")
	if err != nil || pinned(out) != backends.JWKSDigest(second) {
		t.Fatalf("update --jwks: %v %s", err, out)
	}
}
