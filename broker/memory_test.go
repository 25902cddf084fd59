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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// BenchmarkMemoryWith10kClients measures memory with 10,000 clients cached
// (one token each): the Go heap in use and the process's RSS after the last
// round, as heap-MiB and rss-MiB. A measurement, not a check; one round is
// enough:
//
//	go test ./broker -run '^$' -bench MemoryWith10kClients -benchtime 1x
func BenchmarkMemoryWith10kClients(b *testing.B) {
	ctx := context.Background()
	var keep *broker.Server // the last round's broker stays alive for the measurement
	for b.Loop() {
		if keep != nil {
			keep.Close()
		}
		keep = tenThousandClients(ctx, b)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	if rss, ok := rssKiB(); ok {
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
	}
	runtime.KeepAlive(keep)
	keep.Close()
}

// tenThousandClients returns a broker with 10,000 clients registered, each
// of which has had one token (so each is cached).
func tenThousandClients(ctx context.Context, b *testing.B) *broker.Server {
	b.Helper()
	store, err := file.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, broker.WithCache(cache.Options{TTL: time.Hour}))
	if err != nil {
		b.Fatal(err)
	}
	reg := srv.Registry()
	auth := make([]string, 10_000)
	for i := range auth {
		id := fmt.Sprintf("client-%05d", i)
		r, err := reg.Create(ctx, &backends.Client{ClientID: id, Scope: "read write", AllowedResources: []string{"https://api.example.test"}})
		if err != nil {
			b.Fatal(err)
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
			b.Fatalf("token: %d", rec.Code)
		}
	}
	return srv
}

// rssKiB reads the process's resident set size (Linux).
func rssKiB() (int, bool) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			return n, err == nil
		}
	}
	return 0, false
}
