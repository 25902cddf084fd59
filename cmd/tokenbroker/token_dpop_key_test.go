package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/certs"
)

// "token --dpop-key FILE": the proof key is read through clientcli.ReadKey
// (64 KiB bound, certs.ParsePrivateKeyPEM), and any failure names the flag.
func TestTokenDPoPKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemb, err := certs.MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("key.pem", pemb)
	for _, tc := range []struct {
		name, path string
	}{
		{"not a key", write("junk.pem", []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n"))},
		{"missing", filepath.Join(dir, "none.pem")},
		{"over 64 KiB", write("big.pem", append([]byte(strings.Repeat("#", 64<<10)), pemb...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := dpopFlags{keyFile: tc.path, method: "GET"}
			if d, err := f.config(); err == nil || !strings.HasPrefix(err.Error(), "--dpop-key: ") {
				t.Fatalf("config() = %v, %v; want a --dpop-key error", d, err)
			}
		})
	}
	f := dpopFlags{keyFile: good, method: "GET"}
	d, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	if pk, ok := d.Key.Public().(*ecdsa.PublicKey); !ok || !pk.Equal(&k.PublicKey) {
		t.Fatalf("the proof key is %T, not the file's", d.Key)
	}
}
