package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// BenchmarkProductionShaped compares a dev-mode broker (in-memory state,
// no limits, no audit trail) with a production-shaped one (shared state and
// rate limits in a real Redis, the hash-chained audit trail in a file), in
// process and without TLS. cpu-µs/op is the process's CPU time per token
// (getrusage; Redis's own CPU is not counted, as the broker's is what the
// target bounds).
func BenchmarkProductionShaped(b *testing.B) {
	for _, method := range []string{"client_secret_basic", "private_key_jwt"} {
		for _, prod := range []bool{false, true} {
			name := method + "/dev"
			if prod {
				name = method + "/redis+limits+audit"
			}
			b.Run(name, func(b *testing.B) { benchShaped(b, method, prod) })
		}
	}
}

func benchShaped(b *testing.B, method string, prod bool) {
	ctx := context.Background()
	store, _ := file.New(b.TempDir())
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	const iss = "https://broker.example.test"
	var shared state.Store = state.NewMemory(0)
	cfg := broker.Config{Issuer: iss, DefaultAudience: "https://api.example.test", Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if prod {
		addr, _ := statetest.StartRedis(b)
		rc := redis.NewClient(&redis.Options{Addr: addr})
		b.Cleanup(func() { rc.Close() })
		rs := state.NewRedis(rc, "tb:")
		shared = rs
		cfg.RateLimits = broker.RateLimits{FailedPerClient: broker.Rate{PerSecond: 0.5, Burst: 10}, FailedPerAddress: broker.Rate{PerSecond: 1, Burst: 30}, Limiter: rs}
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "audit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		cfg.Audit = audit.New(f, true, "")
	}
	cfg.State = shared
	pk, err := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: iss, Replay: shared, Keys: authn.NewKeySource(nil)})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Methods = []authn.Method{authn.ClientSecretBasic(), pk}
	srv, err := broker.New(ctx, cfg, store)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	key := newBenchKey(b)
	c := &backends.Client{ClientID: "bench", Scope: "read"}
	if method == "private_key_jwt" {
		c.TokenEndpointAuthMethod, c.JWKS = backends.AuthPrivateKeyJWT, key.jwks()
	}
	r, err := srv.Registry().Create(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+r.Secret))
	var (
		assertions []string
		signing    time.Duration // CPU spent making assertions, not the broker's
	)
	next := func() string {
		if len(assertions) == 0 {
			b.StopTimer()
			start := rusage()
			for range 500 {
				assertions = append(assertions, key.sign(b, "bench", iss))
			}
			signing += rusage() - start
			b.StartTimer()
		}
		a := assertions[0]
		assertions = assertions[1:]
		return a
	}
	h := srv.Handler()
	do := func() {
		body := "grant_type=client_credentials&scope=read"
		req := httptest.NewRequest(http.MethodPost, "/token", nil)
		if method == "private_key_jwt" {
			body += "&" + url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {next()}}.Encode()
		} else {
			req.Header.Set("Authorization", auth)
		}
		req.Body = io.NopCloser(strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	do() // warm the client cache
	b.ReportAllocs()
	signing = 0
	start := rusage()
	for b.Loop() {
		do()
	}
	cpu := rusage() - start - signing
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// benchKey signs the benchmark's client assertions (RFC 7523 §3). The
// whole-broker tests in internal/integration have a fuller one.
type benchKey struct {
	priv *ecdsa.PrivateKey
	s    jose.Signer
}

func newBenchKey(b *testing.B) benchKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		b.Fatal(err)
	}
	return benchKey{k, s}
}

func (k benchKey) jwks() json.RawMessage {
	j, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	return j
}

func (k benchKey) sign(b *testing.B, clientID, aud string) string {
	var id [12]byte
	_, _ = rand.Read(id[:])
	now := time.Now()
	tok, err := jwt.Signed(k.s).Claims(map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": base64.RawURLEncoding.EncodeToString(id[:])}).Serialize()
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func rusage() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
