package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// /readyz answers the same on the main and the admin listener, and covers
// the shared state: with Redis stopped both say 503, with Redis back both
// say ready again — on their own, no token request needed. A flood of
// /readyz costs Redis about one ping a second, not one per request.
func TestReadinessSameOnBothListeners(t *testing.T) {
	redisAddr, stopRedis := startRedisAt(t, "")
	h := newHarness(t)
	adminAddr := freeAddr(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+"admin:\n  listen: "+adminAddr+"\nshared_state:\n  type: redis\n  redis:\n    addrs: ["+redisAddr+"]\n"))
	h.serve(cfgPath)
	pem, _ := os.ReadFile(h.cacert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	get := func(u string) (int, string) {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	listeners := map[string]string{"main": "https://" + h.addr + "/readyz", "admin": "http://" + adminAddr + "/readyz"}
	// both waits until every listener answers want, then checks they agree.
	both := func(want int, body string) {
		t.Helper()
		for name, u := range listeners {
			var code int
			var b string
			if testkit.Poll(testkit.Timeout, func() bool { code, b = get(u); return code == want && strings.Contains(b, body) }) != nil {
				t.Fatalf("%s /readyz: %d %q, want %d %q", name, code, b, want, body)
			}
		}
	}
	both(http.StatusOK, "ready")

	// A flood: one ping per second at most (plus the first).
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	pings := func() int {
		info, err := rc.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`cmdstat_ping:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	before, start := pings(), time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				for _, u := range listeners {
					get(u)
				}
			}
		}()
	}
	wg.Wait()
	if got, most := pings()-before, int(time.Since(start)/time.Second)+2; got > most {
		t.Errorf("400 /readyz requests in %s sent %d pings to Redis, want at most %d", time.Since(start).Round(time.Millisecond), got, most)
	}

	stopRedis()
	both(http.StatusServiceUnavailable, "shared state unavailable")
	_, stopRedis = startRedisAt(t, redisAddr)
	both(http.StatusOK, "ready")
	stopRedis()
}

// startRedisAt runs redis-server on addr (a free port when empty) until the
// test ends or stop is called; stop and start again to simulate an outage.
func startRedisAt(t *testing.T, addr string) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TB_TEST_REQUIRE_REDIS") != "" {
			t.Fatal("redis-server is required (TB_TEST_REQUIRE_REDIS)")
		}
		t.Skip("redis-server not installed")
	}
	if addr == "" {
		addr = freeAddr(t)
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	t.Cleanup(stop)
	testkit.WaitFor(t, "redis-server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, stop
}
