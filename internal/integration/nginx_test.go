package integration_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// startNginx runs a real nginx terminating mutual TLS in front of the broker,
// forwarding the client certificate as $ssl_client_escaped_cert and the
// client's address in X-Forwarded-For. nginx
// connects to the broker from proxyAddr, the only trusted proxy.
func startNginx(t *testing.T, e *env) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("TB_TEST_REQUIRE_NGINX") != "" {
			t.Fatal("nginx is required (TB_TEST_REQUIRE_NGINX) but not installed")
		}
		t.Skip("nginx not installed; .ci/test installs it")
	}
	dir := t.TempDir()
	certPEM, keyPEM, err := e.ca.Issue(certs.Leaf{CommonName: "nginx", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "server.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "server-key.pem"), keyPEM, 0o600)
	addr := freeLoopback(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  server {
    listen %[3]s ssl;
    ssl_certificate %[2]s/server.pem;
    ssl_certificate_key %[2]s/server-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    # nginx proves possession of the key; the broker checks the chain.
    ssl_verify_client optional_no_ca;
    location / {
      proxy_pass %[4]s;
      proxy_bind %[5]s;
      proxy_ssl_verify off;
      proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
      # Appends the client's address: the broker reads the right-most untrusted hop.
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, user, dir, addr, e.issuer, proxyAddr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	if err := testkit.Poll(testkit.Timeout, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("nginx did not start: %s\n%s", out, log)
	}
	return "https://" + addr
}

func freeLoopback(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestBehindRealNginx(t *testing.T) {
	e := newEnv(t, withProxy(certs.FormatNginx))
	front := startNginx(t, e)
	e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	cert, leaf := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}

	resp, b := e.postVia(e.withCert(&cert), front, cc, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("mTLS through nginx refused: %d %v\n%s", resp.StatusCode, b, e.logs)
	}
	claims, _ := e.verify(b["access_token"].(string))
	if claims.Cnf == nil || claims.Cnf.X5tS256 != certs.Thumbprint(leaf) || claims.Cnf.X5tS256 != openSSLThumbprint(t, leaf) {
		t.Fatalf("token through nginx not bound to the client certificate: %+v", claims.Cnf)
	}
	// Spoofs: a client without a certificate sends the header nginx sets, or
	// another certificate header; nginx overwrites the first and the broker
	// reads only the configured one from nginx, so neither gets a token.
	for _, h := range []string{"X-SSL-Client-Cert", "Client-Cert", "X-Forwarded-Client-Cert"} {
		name, value := certHeader(certs.FormatNginx, leaf)
		if h != name {
			_, value = certHeader(certs.FormatRFC9440, leaf)
		}
		hdr := http.Header{}
		hdr.Set(h, value)
		resp, b := e.postVia(e.withCert(nil), front, cc, hdr)
		if resp.StatusCode == 200 || b["access_token"] != nil {
			t.Fatalf("spoofed %s through nginx got a token", h)
		}
	}
	// And straight to the broker, bypassing nginx, the header is refused.
	name, value := certHeader(certs.FormatNginx, leaf)
	hdr := http.Header{}
	hdr.Set(name, value)
	if resp, b := e.postVia(e.withCert(nil), e.issuer, cc, hdr); resp.StatusCode != 400 || !strings.Contains(b["error"].(string), "invalid_request") {
		t.Fatalf("header sent around nginx: %d %v", resp.StatusCode, b)
	}
}

// Behind the real nginx every client has its own failure buckets, keyed by
// the address nginx forwards: 40 failures from one client — forging
// X-Forwarded-For as another client's address — limit that client only.
func TestNginxForwardsClientAddress(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withProxy(certs.FormatNginx), withLimits(1000, 30), withAudit(&trail))
	front := startNginx(t, e)
	secret := e.client(&backends.Client{ClientID: "g", Scope: "read"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	attacker, victim := e.fromAddr("127.0.0.4", nil), e.fromAddr("127.0.0.5", nil)
	limited := 0
	for range 40 {
		hdr := basic("g", "guess-"+randID())
		hdr.Set("X-Forwarded-For", "127.0.0.5") // the victim's address: nginx appends the real one
		if r, b := e.postVia(attacker, front, cc, hdr); refused(t, "attack through nginx", r, b) {
			limited++
		}
	}
	if limited != 10 {
		t.Fatalf("%d of 40 failures through nginx limited, want 10", limited)
	}
	if r, b := e.postVia(victim, front, cc, basic("g", secret)); r.StatusCode != 200 || b["access_token"] == nil {
		t.Fatalf("good client behind nginx refused: %d %v", r.StatusCode, b)
	}
	// The victim's own failures still find a full bucket: 401, not 429.
	if r, b := e.postVia(victim, front, cc, basic("g", "typo")); r.StatusCode != 401 {
		t.Fatalf("a failure from another client behind nginx: %d %v", r.StatusCode, b)
	}
	if n := len(auditLines(&trail, `"source":"127.0.0.4"`, `"peer":"127.0.0.2"`)); n != 40 {
		t.Fatalf("%d attack lines audited with the forwarded source and the proxy as peer, want 40:\n%s", n, trail.String())
	}
	if n := len(auditLines(&trail, `"event":"token_issued"`, `"source":"127.0.0.5"`)); n != 1 {
		t.Fatalf("%d tokens minted for 127.0.0.5, want 1", n)
	}
}
