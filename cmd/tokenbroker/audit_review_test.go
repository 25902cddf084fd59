package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// REVIEW: the keyed chain (audit.chain_key_file) is documented to detect "an
// edited, inserted or deleted line anywhere but at the end" without the key.
// But openAudit continues the chain from whatever the file's last line is,
// without checking it: someone who can write the file (no key needed) cuts
// the last events off while the broker is stopped (a deploy, a crash, a
// node restart); the restarted broker links its next line to the truncated
// tail and "audit verify --key" reports the whole trail intact, although
// events in the middle of it are gone.
func TestReviewKeyedTrailDetectsDeletionAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)), 0o600)
	path := filepath.Join(dir, "audit.log")
	fc := &fileConfig{}
	fc.Audit.File, fc.Audit.ChainKeyFile = path, keyFile

	a, err := openAudit(fc)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "mallory", "mallory"} {
		if err := a.Record(audit.Event{Time: time.Now(), Event: "token_issued", ClientID: id, Outcome: "success", Source: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()

	// The attacker, without the key, deletes mallory's two lines.
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(path, []byte(lines[0]), 0o600)

	// The broker restarts and goes on writing.
	a, err = openAudit(fc)
	if err != nil {
		t.Fatal(err)
	}
	a.Record(audit.Event{Time: time.Now(), Event: "token_issued", ClientID: "bob", Outcome: "success", Source: "192.0.2.2"})
	a.Close()

	out, err := cli("audit", "verify", path, "--key", keyFile)
	if err == nil {
		t.Fatalf("two events deleted from the middle of a keyed trail, yet: %s", out)
	}
}
