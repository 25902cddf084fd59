package runtime

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// The dpop keys: nonces need the shared key file, every bound names its key.
func TestDPoPConfigKeys(t *testing.T) {
	h := newHarness(t)
	short := h.write("short.key", []byte("too short"))
	for _, tc := range []struct {
		name, yaml, key string
	}{
		{"nonces without a key", "dpop:\n  nonces: true\n", "dpop.nonce_key_file"},
		{"a key without nonces", "dpop:\n  nonce_key_file: " + short + "\n", "dpop.nonce_key_file"},
		{"a short key", "dpop:\n  nonces: true\n  nonce_key_file: " + short + "\n", "dpop.nonce_key_file"},
		{"a missing key file", "dpop:\n  nonces: true\n  nonce_key_file: " + filepath.Join(h.dir, "absent") + "\n", "dpop.nonce_key_file"},
		{"nonce lifetime", "dpop:\n  nonces: true\n  nonce_key_file: " + short + "\n  nonce_lifetime: 5s\n", "dpop.nonce_lifetime"},
		{"proof max age", "dpop:\n  proof_max_age: 10m\n", "dpop.proof_max_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc, err := config.Load(h.write("broker.yaml", []byte(h.head()+tc.yaml)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(fc); !config.Keys(err)[tc.key] {
				t.Fatalf("want an error naming %s: %v", tc.key, err)
			}
		})
	}
}

// dpop.nonces through the runtime over TLS: use_dpop_nonce with a nonce,
// then a token with it; a reload with a rotated key refuses the old nonce
// (use_dpop_nonce again, with a new one that works).
func TestDPoPNoncesReload(t *testing.T) {
	h := newHarness(t)
	keyPath := h.write("dpop-nonce.key", []byte(strings.Repeat("a", 64)+"\n"))
	cfgPath := h.write("broker.yaml", []byte(h.head()+"tokens:\n  default_audience: https://api.example.test\ndpop:\n  nonces: true\n  nonce_key_file: "+keyPath+"\n"))
	secret := h.client(cfgPath, "c")
	rt, log := h.serve(cfgPath)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, err := dpop.NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	htu := "https://" + h.addr + broker.PathToken
	post := func(nonce string) (int, string, map[string]any) {
		t.Helper()
		proof, err := p.Proof(http.MethodPost, htu, "", nonce)
		if err != nil {
			t.Fatal(err)
		}
		hc := h.httpClient()
		req, _ := http.NewRequest(http.MethodPost, htu, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		req.SetBasicAuth("c", secret)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, resp.Header.Get("DPoP-Nonce"), m
	}
	code, nonce, m := post("")
	if code != 400 || m["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %v %q", code, m, nonce)
	}
	if code, _, m := post(nonce); code != 200 || m["token_type"] != "DPoP" {
		t.Fatalf("with the nonce: %d %v", code, m)
	}
	h.write("dpop-nonce.key", []byte(strings.Repeat("b", 64)+"\n"))
	rt.Reload(t.Context())
	waitFor(t, log, "configuration, certificates, CA bundles and CRLs reloaded")
	code, fresh, m := post(nonce)
	if code != 400 || m["error"] != "use_dpop_nonce" || fresh == "" || fresh == nonce {
		t.Fatalf("old nonce after a key rotation: %d %v", code, m)
	}
	if code, _, m := post(fresh); code != 200 {
		t.Fatalf("the new nonce: %d %v", code, m)
	}
}
