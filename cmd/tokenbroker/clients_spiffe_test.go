package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// clients create --spiffe-id registers a workload under its SPIFFE ID's
// key; a malformed or missing-method SPIFFE client is refused.
func TestClientsCreateSPIFFE(t *testing.T) {
	t.Chdir(t.TempDir())
	_, _, stop := startDev(t, freeAddr(t))
	stop()
	ctx := context.Background()
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, args, &out, &errb)
		return out.String() + errb.String(), err
	}
	out, err := cli("clients", "create", "--spiffe-id", "spiffe://prod.example/ns/pay/sa/api", "--method", "spiffe_x509", "--scope", "read")
	if err != nil || !strings.Contains(out, `"client_id": "spiffe~prod.example~ns~pay~sa~api"`) {
		t.Fatalf("%v %s", err, out)
	}
	for _, args := range [][]string{
		{"--spiffe-id", "spiffe://Prod.example/x", "--method", "spiffe_x509"},
		{"--spiffe-id", "https://prod.example/x", "--method", "spiffe_jwt"},
		{"--id", "payments", "--method", "spiffe_jwt"},
	} {
		if out, err := cli(append([]string{"clients", "create"}, args...)...); err == nil {
			t.Errorf("%v accepted: %s", args, out)
		}
	}
}
