package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// "tokenbroker token --dpop --url": the printed curl line, run by the real
// curl, reaches the demo API with the DPoP-bound token and its proof; run
// again, the spent proof is refused (RFC 9449 §11.1).
func TestTokenDPoPCurlLine(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	t.Chdir(t.TempDir())
	addr := freeAddr(t)
	_, _, stop := startDev(t, addr)
	defer stop()
	iss := "https://" + addr
	apiAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	apiOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "api", "--issuer", iss, "--listen", apiAddr}, apiOut, &syncBuffer{})
	}()
	defer func() { cancel(); <-done }()
	testkit.WaitFor(t, "the demo API banner", func() bool { return strings.Contains(apiOut.String(), "demo API on") })

	secret := filepath.Join(defaultDevState, "demo", "demo-basic", "secret")
	target := "https://" + apiAddr + "/hello"
	out, err := cli("token", "--issuer", iss, "--client-id", "demo-basic", "--secret-file", secret, "--dpop", "--url", target)
	if err != nil {
		t.Fatalf("token --dpop: %v\n%s", err, out)
	}
	var curl string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "curl ") {
			curl = l
		}
	}
	if !strings.Contains(out, "token_type:   DPoP") || curl == "" {
		t.Fatalf("token --dpop printed:\n%s", out)
	}
	for i, want := range []string{`"hello":"demo-basic"`, `error="invalid_dpop_proof"`} {
		got, err := exec.Command("sh", "-c", curl+" -s -i").CombinedOutput()
		if err != nil || !strings.Contains(string(got), want) {
			t.Fatalf("curl line, run %d: %v\n%s", i+1, err, got)
		}
	}
	tok := strings.TrimSpace(strings.TrimPrefix(strings.Split(out, "\n")[0], "access_token:"))
	if out, err := cli("inspect", "--issuer", iss, tok); err != nil || !strings.Contains(out, "binding:   cnf.jkt") {
		t.Fatalf("inspect of a DPoP-bound token: %v\n%s", err, out)
	}
	if _, err := cli("token", "--issuer", iss, "--client-id", "demo-basic", "--secret-file", secret, "--url", target); err == nil {
		t.Fatal("--url without --dpop was accepted")
	}
}
