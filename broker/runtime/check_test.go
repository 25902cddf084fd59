package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/internal/config"
)

// Check is a dry run: a configuration whose Vault (with Transit signing
// keys) and Redis are unreachable and whose audit directory does not exist
// passes — nothing is connected to, opened or created — while what it can
// check without opening anything is still checked, by key.
func TestCheckOpensNothing(t *testing.T) {
	h := newHarness(t)
	absent := filepath.Join(h.dir, "absent")
	token := h.write("vault-token", []byte("s.test"))
	yaml := h.head() + strings.Join([]string{
		"backend:",
		"  type: vault",
		"  vault:",
		"    address: http://127.0.0.1:1",
		"    auth: {method: token, token_file: " + token + "}",
		"signing:",
		"  type: vault-transit",
		"shared_state:",
		"  type: redis",
		"  redis: {addrs: [127.0.0.1:1]}",
		"audit:",
		"  file: " + filepath.Join(absent, "audit.log"),
		"  chain: true",
		"",
	}, "\n")
	yaml = strings.Replace(yaml, "backend:\n  file:\n    dir: "+filepath.Join(h.dir, "data")+"\n", "", 1)
	fc, err := config.Load(h.write("broker.yaml", []byte(yaml)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(fc); err != nil {
		t.Fatalf("Check connected or opened something: %v", err)
	}
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check created %s: %v", absent, err)
	}

	fc.Tokens.Lifetime = config.Duration(1)
	fc.Signing.Type = "hsm"
	fc.Audit.ChainKeyFile = filepath.Join(absent, "key")
	keys := config.Keys(Check(fc))
	for _, k := range []string{"tokens.lifetime", "signing.type", "audit.chain_key_file"} {
		if !keys[k] {
			t.Errorf("no error for %s: %v", k, Check(fc))
		}
	}
}
