package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// SIGHUP reloads the configuration without a restart (and without dropping
// the listener): a changed token lifetime applies to the next token. A
// broken configuration keeps the running one.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	h := newHarness(t)
	cfg := func(lifetime string) []byte {
		return []byte(h.head() + "tokens:\n  default_audience: https://api.example.test\n  lifetime: " + lifetime + "\n")
	}
	cfgPath := h.write("broker.yaml", cfg("5m"))
	secret := h.client(cfgPath, "c")
	rt, log := h.serve(cfgPath)
	lifetime := func() float64 {
		t.Helper()
		c := h.token("c", secret)
		return c["exp"].(float64) - c["iat"].(float64)
	}
	if got := lifetime(); got != 300 {
		t.Fatalf("lifetime before reload: %v", got)
	}
	proc, store := rt.proc, rt.cur.Load().w.store
	h.write("broker.yaml", cfg("2m"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, log, "configuration, certificates, CA bundles and CRLs reloaded")
	if got := lifetime(); got != 120 {
		t.Fatalf("lifetime after SIGHUP: %v, want 120", got)
	}
	if rt.proc != proc || rt.cur.Load().w.proc != proc {
		t.Fatal("a reload replaced the process parts")
	}
	if rt.cur.Load().w.store != store {
		t.Fatal("a reload that left the backend section alone opened the backend again")
	}
	h.write("broker.yaml", []byte("issuer: http://not-https\n"))
	rt.Reload(t.Context())
	waitFor(t, log, "reload failed; keeping the running configuration")
	if got := lifetime(); got != 120 {
		t.Fatalf("a failed reload changed the running configuration: %v", got)
	}
}

// shared_state and audit are the process's: a reload that changes them says
// they need a restart and keeps the running ones (the trail stays in its
// file, the state where it was); the rest of the new configuration applies.
func TestReloadKeepsProcessSettingsUntilRestart(t *testing.T) {
	h := newHarness(t)
	trailA, trailB := filepath.Join(h.dir, "a.log"), filepath.Join(h.dir, "b.log")
	cfg := func(trail, shared, lifetime string) []byte {
		return []byte(h.head() + "tokens:\n  default_audience: https://api.example.test\n  lifetime: " + lifetime +
			"\naudit:\n  file: " + trail + "\n  chain: true\nshared_state:\n" + shared)
	}
	cfgPath := h.write("broker.yaml", cfg(trailA, "  type: memory\n", "5m"))
	secret := h.client(cfgPath, "c")
	rt, log := h.serve(cfgPath)
	state := rt.proc.state
	h.token("c", secret)
	h.write("broker.yaml", cfg(trailB, "  type: redis\n  redis:\n    addrs: [127.0.0.1:1]\n", "2m"))
	rt.Reload(t.Context())
	waitFor(t, log, "configuration, certificates, CA bundles and CRLs reloaded")
	if !strings.Contains(log.String(), `"msg":"SIGHUP: these settings changed; they take effect after a restart","keys":["shared_state","audit"]`) {
		t.Errorf("no restart warning for shared_state and audit:\n%s", log)
	}
	if c := h.token("c", secret); c["exp"].(float64)-c["iat"].(float64) != 120 {
		t.Errorf("the rest of the configuration did not apply: %v", c)
	}
	if rt.cur.Load().w.cfg.State != state {
		t.Error("a reload replaced the shared state")
	}
	if _, err := os.Stat(trailB); err == nil {
		t.Error("a reload opened a second audit trail")
	}
	if rep := trail(t, trailA, ""); rep.Events != 2 {
		t.Errorf("the running trail after the reload: %+v", rep)
	}
}

// Log rotation: rename the trail, reload, and the one writer goes on in a
// new file at the configured path; its first line links to the renamed
// file's last.
func TestReloadRotatesAuditFile(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "audit.log")
	cfgPath := h.write("broker.yaml", []byte(h.head()+"tokens:\n  default_audience: https://api.example.test\naudit:\n  file: "+path+"\n  chain: true\n"))
	secret := h.client(cfgPath, "c")
	rt, log := h.serve(cfgPath)
	h.token("c", secret)
	h.token("c", secret)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	rt.Reload(t.Context())
	waitFor(t, log, "configuration, certificates, CA bundles and CRLs reloaded")
	h.token("c", secret)
	// The rotated file ends with the writer's trail_closed, the new one
	// starts with its trail_opened.
	if rep := trail(t, path+".1", ""); rep.Events != 2 || rep.Lines != 4 || rep.Opened != 1 || rep.Closed != 1 {
		t.Fatalf("rotated file: %+v", rep)
	}
	f, _ := os.Open(path + ".1")
	last, err := audit.LastHash(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rep := trail(t, path, last); rep.Events != 1 || rep.Lines != 2 || rep.Opened != 1 || rep.Closed != 0 {
		t.Fatalf("new file, from the rotated one's last hash: %+v", rep)
	}
}

// A reload that changes the backend section opens the new backend; the old
// one stays open for the old instance (closed with it), and a reload after
// that keeps the new one.
func TestReloadOpensAChangedBackend(t *testing.T) {
	h := newHarness(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()))
	rt, log := h.serve(cfgPath)
	old := rt.cur.Load()
	h.write("broker.yaml", []byte(strings.Replace(h.head(), filepath.Join(h.dir, "data"), filepath.Join(h.dir, "data2"), 1)))
	rt.Reload(t.Context())
	waitFor(t, log, "configuration, certificates, CA bundles and CRLs reloaded")
	cur := rt.cur.Load()
	if cur.w.store == old.w.store {
		t.Fatal("a changed backend section kept the old backend")
	}
	if _, err := old.w.store.ListClients(t.Context()); err != nil {
		t.Fatalf("the old instance's backend closed under it: %v", err)
	}
	rt.Reload(t.Context())
	if rt.cur.Load().w.store != cur.w.store {
		t.Fatal("an unchanged backend section opened the backend again")
	}
}
