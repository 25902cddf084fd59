package broker_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// TLS 1.2 is limited to ECDHE key exchange with AEAD ciphers: a client
// offering only CBC-SHA1 suites (negotiated by Go's defaults) gets no
// handshake, with an RSA or an ECDSA server key. RFC 9325 §4.2.
func TestTLS12OnlyECDHEWithAEAD(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    *rsa.PrivateKey
		weak   uint16
		strong uint16
		ossl   string
	}{
		{"rsa", rsaKey, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-SHA"},
		{"ecdsa", nil, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-AES128-SHA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := certs.NewCA("tls test CA", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			l := certs.Leaf{CommonName: "broker", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
			if tc.key != nil {
				l.Key = tc.key
			}
			certPEM, keyPEM, err := ca.Issue(l)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
			go func() {
				done <- broker.Serve(ctx, ln, broker.TLSConfig(broker.StaticCertificate(cert), false), h, slog.New(slog.DiscardHandler))
			}()
			t.Cleanup(func() { cancel(); <-done })
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(ca.CertPEM())
			dial := func(suite uint16) error {
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
				if err == nil {
					c.Close()
				}
				return err
			}
			if err := dial(tc.weak); err == nil {
				t.Errorf("TLS 1.2 handshake with %s succeeded", tls.CipherSuiteName(tc.weak))
			}
			if err := dial(tc.strong); err != nil {
				t.Errorf("TLS 1.2 handshake with %s: %v", tls.CipherSuiteName(tc.strong), err)
			}
			if _, err := exec.LookPath("openssl"); err != nil {
				return
			}
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			os.WriteFile(caFile, ca.CertPEM(), 0o600)
			cmd := exec.Command("openssl", "s_client", "-connect", ln.Addr().String(), "-tls1_2", "-cipher", tc.ossl, "-CAfile", caFile)
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			if err == nil || strings.Contains(string(out), "Cipher is "+tc.ossl) {
				t.Errorf("openssl s_client -tls1_2 -cipher %s connected:\n%.600s", tc.ossl, out)
			}
		})
	}
}
