package broker_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// TestMemoryWith10kClients measures the process's RSS with 10,000 clients
// cached (one token each). It is a measurement, not a pass/fail check: run
// with TB_MEASURE_RSS=1 go test ./broker -run MemoryWith10k -v.
func TestMemoryWith10kClients(t *testing.T) {
	if os.Getenv("TB_MEASURE_RSS") == "" {
		t.Skip("set TB_MEASURE_RSS=1 to measure")
	}
	ctx := context.Background()
	store, _ := file.New(t.TempDir())
	signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx)
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, broker.WithCache(cache.Options{TTL: 3600e9}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := srv.Registry()
	auth := make([]string, 10_000)
	for i := range auth {
		id := fmt.Sprintf("client-%05d", i)
		r, err := reg.Create(ctx, &backends.Client{ClientID: id, Scope: "read write", AllowedResources: []string{"https://api.example.test"}})
		if err != nil {
			t.Fatal(err)
		}
		auth[i] = "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+r.Secret))
	}
	h := srv.Handler()
	for _, a := range auth {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", a)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%d", rec.Code)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS") {
			t.Logf("10,000 clients cached: %s, Go heap in use %.1f MiB", strings.Join(strings.Fields(l)[1:], " "), float64(ms.HeapInuse)/(1<<20))
		}
	}
}
