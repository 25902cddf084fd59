package integration_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/certs"
)

// TestSPIFFEKeyOfOtherMethod (review revspiffe): a record stored under a
// SPIFFE ID's key, spiffe~TD~PATH, with a method that is not a SPIFFE one —
// tls_client_auth against the static client CA, or a client secret — must
// never answer for that SPIFFE ID. Otherwise client_id=spiffe://… with a
// certificate of the static CA (or a secret) authenticates as the workload,
// bypassing the trust domain's bundle (draft-ietf-oauth-spiffe-client-auth-02
// §6.2.3: an SVID is verified with its trust domain's authorities only). The
// record is written to the backend directly: the lookup itself refuses it,
// whoever wrote it.
func TestSPIFFEKeyOfOtherMethod(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	ctx := context.Background()
	id := spiffeid.RequireFromString("spiffe://a.test/ns/pay/sa/static")
	key, _ := spiffe.ClientKey(id)
	if err := se.store.CreateClient(ctx, &backends.Client{ClientID: key, TokenEndpointAuthMethod: backends.AuthTLSClient,
		TLSClientAuthSANURI: id.String(), Scope: "read", GrantTypes: []string{backends.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	static, _ := se.leafCert(nil, certs.Leaf{CommonName: "static", URIs: []string{id.String()}})

	before := len(se.logs.String())
	resp, b := se.postVia(se.withCert(&static), se.issuer, x509Form(id.String()), nil)
	se.refused(t, resp, b, before, "client_ids are reserved for spiffe_x509 and spiffe_jwt")

	// The same record under a secret: client_id=spiffe://… with a secret.
	sid := spiffeid.RequireFromString("spiffe://a.test/ns/pay/sa/secret")
	skey, _ := spiffe.ClientKey(sid)
	secret := "s3cret-" + skey
	if err := se.store.CreateClient(ctx, &backends.Client{ClientID: skey, TokenEndpointAuthMethod: backends.AuthClientSecretPost,
		Scope: "read", GrantTypes: []string{backends.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	if err := se.store.PutSecrets(ctx, skey, &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret(secret)}}}); err != nil {
		t.Fatal(err)
	}
	se.handedOut = append(se.handedOut, secret)
	before = len(se.logs.String())
	resp, b = se.post(url.Values{"grant_type": {"client_credentials"}, "client_id": {sid.String()}, "client_secret": {secret}}, nil)
	se.refused(t, resp, b, before, "client_ids are reserved for spiffe_x509 and spiffe_jwt")
}

// TestSPIFFEKeyRegistration (review revspiffe): the registry refuses a
// client_id in the SPIFFE key space for a method other than spiffe_x509 and
// spiffe_jwt, so the operator cannot create the record above by mistake.
func TestSPIFFEKeyRegistration(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	for _, m := range []string{backends.AuthTLSClient, backends.AuthClientSecretBasic, backends.AuthPrivateKeyJWT} {
		c := &backends.Client{ClientID: "spiffe~a.test~ns~pay~sa~" + m, TokenEndpointAuthMethod: m, Scope: "read",
			TLSClientAuthSANURI: "spiffe://a.test/ns/pay/sa/static", JWKSURI: "https://keys.example.test/jwks"}
		if m != backends.AuthTLSClient {
			c.TLSClientAuthSANURI = ""
		}
		if m != backends.AuthPrivateKeyJWT {
			c.JWKSURI = ""
		}
		_, err := se.srv.Registry().Create(context.Background(), c)
		var me *registry.MetadataError
		if !errors.As(err, &me) || me.Field != "client_id" {
			t.Errorf("%s client under a SPIFFE key: %v, want a client_id refusal", m, err)
		}
	}
}
