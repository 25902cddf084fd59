package integration_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awssm"
	"github.com/tokenbroker/tokenbroker/backends/awssm/awssmtest"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// rawBackend writes a client record (and its plain secret) straight into a
// backend, behind the registry's back, as an operator's tooling would.
type rawBackend struct {
	store backends.Store
	write func(t *testing.T, id, record, secret string)
}

func fileBackend(t *testing.T) rawBackend {
	dir := t.TempDir()
	store, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rawBackend{store, func(t *testing.T, id, record, secret string) {
		set, _ := json.Marshal(backends.SecretSet{Secrets: []backends.Secret{{Plain: secret}}})
		if err := os.WriteFile(filepath.Join(dir, "secrets", id+".json"), set, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "clients", id+".json"), []byte(record), 0o600); err != nil {
			t.Fatal(err)
		}
	}}
}

func awssmBackend(t *testing.T) rawBackend {
	const ak, sk, region = "AKIDCACHETEST", "cache-test-secret-key", "eu-west-1"
	srv := awssmtest.New(ak, sk, region)
	t.Cleanup(srv.Close)
	cfg := &aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")}
	store, err := awssm.New(context.Background(), awssm.Config{Endpoint: srv.URL, AWS: cfg, Logger: slog.New(slog.DiscardHandler), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	raw := sm.NewFromConfig(*cfg, func(o *sm.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	return rawBackend{store, func(t *testing.T, id, record, secret string) {
		var m map[string]any
		if err := json.Unmarshal([]byte(record), &m); err != nil {
			t.Fatal(err)
		}
		m["client_secret"] = secret
		b, _ := json.Marshal(m)
		if _, err := raw.CreateSecret(context.Background(), &sm.CreateSecretInput{Name: aws.String("tokenbroker/clients/" + id), SecretString: aws.String(string(b))}); err != nil {
			t.Fatal(err)
		}
	}}
}

// A record that fails validation, in the file backend or in Secrets Manager,
// refuses that one client with the very answer an unknown client gets; it is
// not an outage: clients never loaded before still get tokens and /readyz
// stays 200 (issue 11 items 1 and 5).
func TestInvalidRecordRefusesOnlyThatClient(t *testing.T) {
	t.Parallel()
	for name, newBackend := range map[string]func(*testing.T) rawBackend{"file": fileBackend, "awssm": awssmBackend} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := newBackend(t)
			if _, err := signing.NewLocal(b.store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			// Written before start: Secrets Manager's warm start sees it too.
			b.write(t, "bad", `{"client_id":"bad","token_endpoint_auth_method":"client_secret_basic","scope":"read","grant_types":["client_credentials","password"],"access_token_lifetime":86400}`, "bad-client-secret-value")
			srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: slog.New(slog.DiscardHandler)}, b.store)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ts := httptest.NewTLSServer(srv.Handler())
			defer ts.Close()
			admin := httptest.NewServer(srv.AdminHandler())
			defer admin.Close()
			hc := ts.Client()
			token := func(id, secret string) (int, string, http.Header) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, ts.URL+broker.PathToken, strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body), resp.Header
			}
			ready := func() {
				t.Helper()
				for _, u := range []string{ts.URL + "/readyz", admin.URL + "/readyz"} {
					resp, err := hc.Get(u)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Fatalf("%s = %d after an invalid record, want 200", u, resp.StatusCode)
					}
				}
			}

			for range 2 { // the second answer comes from the cache
				code, body, h := token("bad", "bad-client-secret-value")
				ucode, ubody, uh := token("nobody", "bad-client-secret-value")
				if code != 401 || !strings.Contains(body, `"invalid_client"`) || strings.Contains(body, "access_token") {
					t.Fatalf("invalid record: %d %s, want 401 invalid_client and no token", code, body)
				}
				if code != ucode || body != ubody || h.Get("WWW-Authenticate") != uh.Get("WWW-Authenticate") {
					t.Fatalf("invalid record %d %s vs unknown client %d %s: distinguishable", code, body, ucode, ubody)
				}
				ready()
			}
			// A client never loaded before, written after the invalid one was refused.
			b.write(t, "fresh", `{"client_id":"fresh","token_endpoint_auth_method":"client_secret_basic","scope":"read"}`, "fresh-client-secret-value")
			if code, body, _ := token("fresh", "fresh-client-secret-value"); code != 200 || !strings.Contains(body, "access_token") {
				t.Fatalf("uncached valid client after an invalid record: %d %s", code, body)
			}
			ready()
			if srv.Degraded() {
				t.Fatal("an invalid record flagged the backend degraded")
			}
		})
	}
}
