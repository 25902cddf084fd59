package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/backends/awssm/awssmtest"
	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
)

// signing.type aws-kms with each backend for client data (file, Secrets
// Manager through its local endpoint, a real Vault): "keys rotate" creates
// the first key behind the alias and moves it to a second one, serve signs
// with KMS, and every token verifies with jwx against the served JWKS.
// Credentials come from the SDK's default chain (the environment).
func TestServeWithAWSKMSSigning(t *testing.T) {
	ak, sk := awsEnv(t)
	backends := map[string]func(t *testing.T, h *serveHarness) string{
		"file": func(t *testing.T, h *serveHarness) string {
			return "backend:\n  type: file\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\n"
		},
		"awssm": func(t *testing.T, h *serveHarness) string {
			srv := awssmtest.New(ak, sk, "us-east-1")
			t.Cleanup(srv.Close)
			return "backend:\n  type: awssm\n  awssm:\n    region: us-east-1\n    endpoint: " + srv.URL + "\n"
		},
		"vault": func(t *testing.T, h *serveHarness) string {
			v := vaulttest.Start(t)
			return "backend:\n  type: vault\n  vault:\n    address: " + v.URL() + "\n    prefix: tb\n    auth:\n      method: token\n      token_file: " +
				h.write("vault-token", []byte("root\n")) + "\n"
		},
	}
	for _, name := range []string{"file", "awssm", "vault"} {
		t.Run(name, func(t *testing.T) {
			kmsSrv := kmstest.New(ak, sk, "us-east-1")
			defer kmsSrv.Close()
			h := newServeHarness(t)
			cfgPath := h.write("broker.yaml", []byte(h.head()+backends[name](t, h)+`signing:
  type: aws-kms
  aws_kms:
    key: alias/tokenbroker
    region: us-east-1
    endpoint: `+kmsSrv.URL+`
tokens:
  default_audience: https://api.example.test
keys:
  jwks_max_age: 1m
`))
			if out, err := cli("keys", "rotate", "--config", cfgPath); err != nil || !strings.Contains(out, "rotated") ||
				!strings.Contains(out, "active") || !strings.Contains(out, "next") || !strings.Contains(out, "arn:aws:kms:") {
				t.Fatalf("keys rotate: %v %s", err, out)
			}
			if out, err := cli("keys", "rotate", "--config", cfgPath); err == nil || !strings.Contains(out+err.Error(), "too soon") {
				t.Fatalf("second keys rotate at once: %v %s", err, out)
			}
			if out, err := cli("keys", "rotate", "--config", cfgPath, "--to", "alias/other"); err == nil {
				t.Fatalf("keys rotate --to an alias: %s", out)
			}
			out, err := cli("clients", "create", "--config", cfgPath, "--id", "svc", "--scope", "read")
			if err != nil {
				t.Fatalf("clients create: %v %s", err, out)
			}
			secret := createdSecret(t, out)
			stderr := h.serve(cfgPath)
			before := kmsSrv.Calls("Sign")
			const n = 5
			var toks []string
			for range n {
				tok, err := cli("token", "--issuer", "https://"+h.addr, "--cacert", h.cacert, "--client-id", "svc", "--secret", secret)
				if err != nil {
					t.Fatalf("token: %v %s\n%s", err, tok, stderr)
				}
				toks = append(toks, strings.TrimSpace(tok))
			}
			if calls := kmsSrv.Calls("Sign") - before; calls != n {
				t.Errorf("%d KMS Sign calls for %d tokens, want one each", calls, n)
			}
			set, err := jwk.Parse(fetchJWKS(t, h))
			if err != nil || set.Len() != 2 {
				t.Fatalf("JWKS: %d keys, %v", set.Len(), err)
			}
			for _, tok := range toks {
				if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
					t.Fatalf("jwx does not verify %s…: %v", tok[:20], err)
				}
			}
			if strings.Contains(stderr.String(), secret) {
				t.Error("the client secret is in the log")
			}
		})
	}
}

// awsEnv gives the SDK's default chain static test credentials (and no
// shared config) for the test; it returns them.
func awsEnv(t *testing.T) (accessKey, secretKey string) {
	const ak, sk = "AKIDKMSCMDTEST", "kms-cmd-test-secret"
	t.Setenv("AWS_ACCESS_KEY_ID", ak)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sk)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return ak, sk
}

func fetchJWKS(t *testing.T, h *serveHarness) []byte {
	t.Helper()
	pem, err := os.ReadFile(h.cacert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + h.addr + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("JWKS: %d %v", resp.StatusCode, err)
	}
	return b
}

// A disabled KMS key fails start-up, and the message names it.
func TestServeRefusesDisabledKMSKey(t *testing.T) {
	ak, sk := awsEnv(t)
	srv := kmstest.New(ak, sk, "us-east-1")
	defer srv.Close()
	ctx := context.Background()
	c := srv.Client()
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/tokenbroker"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	h := newServeHarness(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+"backend:\n  type: file\n  file:\n    dir: "+filepath.Join(h.dir, "data")+`
signing:
  type: aws-kms
  aws_kms:
    key: alias/tokenbroker
    region: us-east-1
    endpoint: `+srv.URL+"\n"))
	var out, errb bytes.Buffer
	err = run(ctx, []string{"serve", "--config", cfgPath}, &out, &errb)
	if err == nil || !strings.Contains(err.Error()+errb.String(), "alias/tokenbroker") || !strings.Contains(err.Error()+errb.String(), "disabled") {
		t.Fatalf("serve with a disabled key: %v\n%s", err, errb.String())
	}
	if srv.Calls("Sign") != 0 {
		t.Errorf("%d Sign calls with a disabled key", srv.Calls("Sign"))
	}
}
