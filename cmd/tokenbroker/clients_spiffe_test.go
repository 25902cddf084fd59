package main

import (
	"strings"
	"testing"
)

// clients create --spiffe-id registers a workload under its SPIFFE ID's
// key; a malformed or missing-method SPIFFE client is refused.
func TestClientsCreateSPIFFE(t *testing.T) {
	cli := devCLI(t)
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
