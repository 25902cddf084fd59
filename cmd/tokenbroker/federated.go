package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// Dev mode's demo federated issuer: a stand-in for a Kubernetes API
// server. Its key lives in the demo client's directory; the broker reads its
// JWK Set from there (federation.issuers[].jwks_file), so nothing serves it.
const (
	devFedIssuer   = "https://kubernetes.tokenbroker.test"
	devFedClient   = "demo-k8s"
	devFedKey      = "issuer-key.pem"
	devFedJWKS     = "issuer-jwks.json"
	devFedKID      = "demo-k8s-issuer-1"
	devFedTemplate = "demo-jobs"
)

// demoFederated fills the demo-k8s record and files: the issuer's key and
// JWK Set, and the one federated subject the client accepts.
func demoFederated(c *backends.Client, files map[string][]byte) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyPEM, err := certs.MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: devFedKID, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		return err
	}
	files[devFedKey], files[devFedJWKS] = keyPEM, jwks
	c.FederatedSubject = &backends.FederatedSubject{Issuer: devFedIssuer, Subject: "system:serviceaccount:demo:api"}
	return nil
}

// addDevFederation configures the demo issuer and a template for its
// namespace demo-jobs: any service account there gets scope read.
func addDevFederation(fc *config.Config, stateDir string) {
	fc.Federation.Issuers = append(fc.Federation.Issuers, config.FederatedIssuer{
		Issuer: devFedIssuer, JWKSFile: filepath.Join(stateDir, devDemo, devFedClient, devFedJWKS), Audience: fc.Issuer,
	})
	fc.Federation.Templates = append(fc.Federation.Templates, config.ClientTemplate{
		Name: devFedTemplate, Issuer: devFedIssuer,
		Claims: map[string]string{"sub": "system:serviceaccount:demo-jobs:*", "kubernetes.io.namespace": "demo-jobs"},
		Scope:  "read", Audiences: []string{devAudience},
	})
}

// federatedTokenCommand mints a Kubernetes-shaped service-account token
// from the dev demo issuer, in kube-apiserver's claim layout (see
// authn/federation/oidctest): what a pod would read from its projected volume.
func federatedTokenCommand(fs *flag.FlagSet) runFunc {
	stateDir := fs.String("state-dir", defaultDevState, "dev-mode state `DIR`")
	ns := fs.String("namespace", "demo", "the pod's namespace")
	sa := fs.String("service-account", "api", "the pod's service account")
	aud := fs.String("aud", "https://"+defaultDevListen, "audience: the broker's issuer identifier")
	life := fs.Duration("lifetime", 10*time.Minute, "token lifetime")
	return func(_ context.Context, e env, _ []string) error {
		if *ns == "" || *sa == "" {
			return errors.New("--namespace and --service-account are required")
		}
		key, err := clientcli.ReadKey(filepath.Join(*stateDir, devDemo, devFedClient, devFedKey))
		if err != nil {
			return fmt.Errorf("the demo issuer's key (run serve --dev once): %w", err)
		}
		tok, err := mintServiceAccountToken(key, *ns, *sa, *aud, *life)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, tok)
		return nil
	}
}

func mintServiceAccountToken(key any, ns, sa, aud string, life time.Duration) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", devFedKID))
	if err != nil {
		return "", err
	}
	uid := func() string {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss": devFedIssuer, "sub": "system:serviceaccount:" + ns + ":" + sa, "aud": []string{aud},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(), "jti": uid(),
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"pod":            map[string]any{"name": sa + "-demo", "uid": uid()},
			"serviceaccount": map[string]any{"name": sa, "uid": uid()},
		},
	})
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
