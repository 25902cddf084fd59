package runtime

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/internal/config"
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
	fc := &config.Config{}
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

	if rep := verifyTrail(t, path, keyFile); rep.Broken == 0 && len(rep.Unclean) == 0 {
		t.Fatalf("two events deleted from the middle of a keyed trail, yet: %+v", rep)
	}
}

// verifyTrail is "audit verify --key": the trail at path checked under the key.
func verifyTrail(t *testing.T, path, keyFile string) audit.Report {
	t.Helper()
	key, err := ReadChainKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, "", key)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// At start-up a keyed trail goes on only from a last line that verifies:
// someone without the key who edited it stops the broker, by audit.file's
// name, instead of having it vouch for the edit. A broker that stopped
// without closing the trail (a crash) leaves a reopen that audit verify
// reports and fails on: a human has to look.
func TestAuditKeyedTrailRestart(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	os.WriteFile(keyFile, []byte(strings.Repeat("cd", 32)), 0o600)
	path := filepath.Join(dir, "audit.log")
	fc := &config.Config{}
	fc.Audit.File, fc.Audit.ChainKeyFile = path, keyFile
	issue := func(a *audit.Trail) {
		t.Helper()
		if err := a.Record(audit.Event{Time: time.Now(), Event: "token_issued", ClientID: "c", Outcome: "success", Source: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}

	a, err := openAudit(fc)
	if err != nil {
		t.Fatal(err)
	}
	issue(a) // and a crash: no Close
	a, err = openAudit(fc)
	if err != nil {
		t.Fatal(err)
	}
	issue(a)
	a.Close()
	rep := verifyTrail(t, path, keyFile)
	if len(rep.Unclean) == 0 || rep.Unclean[0].Line != 3 || !strings.Contains(rep.Unclean[0].Problem, "trail reopened without a clean close") {
		t.Fatalf("a restart after a crash: %+v", rep)
	}

	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(`"trail_closed"`), []byte(`"trail_closeD"`), 1), 0o600)
	if _, err := openAudit(fc); !errors.Is(err, audit.ErrTail) || !strings.Contains(err.Error(), "audit.file") {
		t.Fatalf("start-up on an edited keyed tail: %v", err)
	}
}

// A failed audit write, for real (/dev/full: every write fails with ENOSPC):
// audit.fail_closed refuses the token with 503; the default issues it and
// counts the failure.
func TestAuditFailClosed(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	for _, tc := range []struct {
		name   string
		audit  string
		status int
		lost   string // events not written: the issuance, and the refusal that replaced it
	}{
		{"fail_closed: true", "  file: /dev/full\n  chain: true\n  fail_closed: true\n", http.StatusServiceUnavailable, "2"},
		{"default", "  file: /dev/full\n  chain: true\n", http.StatusOK, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			admin := freeAddr(t)
			cfgPath := h.write("broker.yaml", []byte(h.head()+"tokens:\n  default_audience: https://api.example.test\nadmin:\n  listen: "+admin+"\naudit:\n"+tc.audit))
			secret := h.client(cfgPath, "c")
			h.serve(cfgPath)
			code, m := h.request("c", secret)
			if code != tc.status {
				t.Fatalf("%d %v, want %d", code, m, tc.status)
			}
			if tc.status == http.StatusServiceUnavailable && (m["error"] != "temporarily_unavailable" || m["access_token"] != nil) {
				t.Fatalf("refusal: %v", m)
			}
			resp, err := http.Get("http://" + admin + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := "tokenbroker_audit_write_failures_total " + tc.lost + "\n"; !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		})
	}
}
