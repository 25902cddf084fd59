package vault_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/url"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
	"github.com/tokenbroker/tokenbroker/certs"
)

type pkiClients map[string]*backends.ClientEntry

func (s pkiClients) Get(_ context.Context, id string) (*backends.ClientEntry, error) {
	if e, ok := s[id]; ok {
		return e, nil
	}
	return nil, backends.ErrNotFound
}

// pkiFixture is a real Vault PKI: a root mount, an intermediate mount whose
// issuer the root signed, a role there, and a client certificate from it.
type pkiFixture struct {
	c                 *vapi.Client
	root, inter       string
	rootCert, interCA *x509.Certificate
	leaf              *x509.Certificate
}

func pkiWrite(t *testing.T, c *vapi.Client, path string, data map[string]any) *vapi.Secret {
	t.Helper()
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("vault write %s: %v", path, err)
	}
	return s
}

func pemCert(t *testing.T, s *vapi.Secret, field string) *x509.Certificate {
	t.Helper()
	p, _ := s.Data[field].(string)
	cs, err := certs.ParseCertificatesPEM([]byte(p))
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return cs[0]
}

func mountPKI(t *testing.T, c *vapi.Client, path string) {
	t.Helper()
	if err := c.Sys().Mount(path, &vapi.MountInput{Type: "pki", Config: vapi.MountConfigInput{MaxLeaseTTL: "720h"}}); err != nil {
		t.Fatal(err)
	}
}

// newPKI builds root → intermediate → client leaf (URI SAN spiffe://example.org/m).
func newPKI(t *testing.T, v *vaulttest.Server) *pkiFixture {
	c := v.Root()
	n := uniquePrefix()
	f := &pkiFixture{c: c, root: "pki-root-" + n, inter: "pki-int-" + n}
	mountPKI(t, c, f.root)
	mountPKI(t, c, f.inter)
	f.rootCert = pemCert(t, pkiWrite(t, c, f.root+"/root/generate/internal", map[string]any{
		"common_name": "tokenbroker test root", "ttl": "700h", "key_type": "ec", "key_bits": 256}), "certificate")
	csr := pkiWrite(t, c, f.inter+"/intermediate/generate/internal", map[string]any{
		"common_name": "tokenbroker test intermediate", "key_type": "ec", "key_bits": 256}).Data["csr"]
	signed := pkiWrite(t, c, f.root+"/root/sign-intermediate", map[string]any{
		"csr": csr, "common_name": "tokenbroker test intermediate", "ttl": "600h", "format": "pem"})
	f.interCA = pemCert(t, signed, "certificate")
	// The intermediate alone, not its chain: the root is not imported into the intermediate mount.
	pkiWrite(t, c, f.inter+"/intermediate/set-signed", map[string]any{"certificate": signed.Data["certificate"]})
	pkiWrite(t, c, f.inter+"/roles/client", map[string]any{
		"allow_any_name": true, "enforce_hostnames": false, "client_flag": true, "server_flag": false,
		"allowed_uri_sans": "spiffe://example.org/*", "key_type": "ec", "key_bits": 256, "ttl": "1h"})
	f.leaf = pemCert(t, pkiWrite(t, c, f.inter+"/issue/client", map[string]any{
		"common_name": "m", "uri_sans": "spiffe://example.org/m"}), "certificate")
	return f
}

// pkiAuthenticate authenticates client m presenting chain against the anchors
// of mounts, wired as the runtime wires them.
func pkiAuthenticate(t *testing.T, store *vault.Store, mounts []string, chain ...*x509.Certificate) error {
	t.Helper()
	p, err := store.PKIRoots(t.Context(), mounts, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := authn.TLSClientAuth(p.Get, nil, authn.WithIntermediates(p.Intermediates), authn.WithDistrusted(p.Distrusted))
	a, err := authn.New(pkiClients{"m": {Client: &backends.Client{ClientID: "m", TokenEndpointAuthMethod: backends.AuthTLSClient,
		TLSClientAuthSANURI: "spiffe://example.org/m"}, Secrets: &backends.SecretSet{}}}, []authn.Method{m})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(t.Context(), &authn.Request{Form: url.Values{"client_id": {"m"}}, Certificates: certs.NewPresented(chain), Now: time.Now()})
	return err
}

// Vault PKI issuers as tls_client_auth anchors (RFC 5280 §6.1): the root
// anchors, the intermediate only completes paths to it; an intermediate
// without its root anchors nothing; a revoked issuer serves no chain.
func TestPKIAnchorsFromVault(t *testing.T) {
	v := server(t)
	store := open(t, v, uniquePrefix(), vault.Token(v.RootToken()), quiet())
	f := newPKI(t, v)
	both := []string{f.root, f.inter}

	p, err := store.PKIRoots(t.Context(), both, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Certificates(); len(got) != 1 || !got[0].Equal(f.rootCert) {
		t.Errorf("trust anchors: %d certificates, want the root alone", len(got))
	}
	p.Close()

	for _, tc := range []struct {
		name   string
		mounts []string
		chain  []*x509.Certificate
		ok     bool
	}{
		{"leaf and intermediate, root anchored", both, []*x509.Certificate{f.leaf, f.interCA}, true},
		{"leaf alone, the path completed from Vault's intermediate", both, []*x509.Certificate{f.leaf}, true},
		{"intermediate mount alone: the intermediate does not end a chain", []string{f.inter}, []*x509.Certificate{f.leaf, f.interCA}, false},
		{"intermediate mount alone, leaf alone", []string{f.inter}, []*x509.Certificate{f.leaf}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pkiAuthenticate(t, store, tc.mounts, tc.chain...)
			if (err == nil) != tc.ok {
				t.Fatalf("authenticate: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, authn.ErrInvalidClient) {
				t.Fatalf("refusal is not invalid_client: %v", err)
			}
		})
	}

	// The intermediate revoked in Vault: it neither completes a path nor
	// passes when the client presents it itself.
	pkiWrite(t, f.c, f.inter+"/issuer/default/revoke", nil)
	p, err = store.PKIRoots(t.Context(), both, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Distrusted(f.interCA) {
		t.Error("revoked intermediate not distrusted")
	}
	p.Close()
	for name, chain := range map[string][]*x509.Certificate{"presented": {f.leaf, f.interCA}, "completed": {f.leaf}} {
		if err := pkiAuthenticate(t, store, both, chain...); err == nil {
			t.Errorf("revoked intermediate (%s) accepted", name)
		}
	}
}

// A root revoked in Vault anchors nothing.
func TestPKIRevokedRootAnchorsNothing(t *testing.T) {
	v := server(t)
	store := open(t, v, uniquePrefix(), vault.Token(v.RootToken()), quiet())
	c := v.Root()
	mount := "pki-rev-" + uniquePrefix()
	mountPKI(t, c, mount)
	pkiWrite(t, c, mount+"/root/generate/internal", map[string]any{"common_name": "revoked root", "ttl": "700h", "key_type": "ec", "key_bits": 256})
	pkiWrite(t, c, mount+"/roles/client", map[string]any{"allow_any_name": true, "enforce_hostnames": false, "client_flag": true, "server_flag": false,
		"allowed_uri_sans": "spiffe://example.org/*", "key_type": "ec", "key_bits": 256, "ttl": "1h"})
	leaf := pemCert(t, pkiWrite(t, c, mount+"/issue/client", map[string]any{"common_name": "m", "uri_sans": "spiffe://example.org/m"}), "certificate")
	if err := pkiAuthenticate(t, store, []string{mount}, leaf); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	pkiWrite(t, c, mount+"/issuer/default/revoke", nil)
	if err := pkiAuthenticate(t, store, []string{mount}, leaf); err == nil {
		t.Fatalf("a root revoked in Vault still anchors %s", leaf.Subject)
	}
}
