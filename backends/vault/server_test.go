package vault_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"
)

// vaultServer is a real Vault server (the pinned v1.21.0 build) with file
// storage, initialised and unsealed by the tests, so it can be killed and
// restarted with its data — the outage tests need that; dev mode keeps
// everything in memory.
type vaultServer struct {
	bin, dir, addr string
	unsealKey      string
	rootToken      string
	mu             sync.Mutex
	cmd            *exec.Cmd
}

var (
	shared     *vaultServer
	sharedErr  error
	sharedOnce sync.Once
)

// vaultBin finds the Vault binary: TB_TEST_VAULT_BIN (set by .ci/test) or
// the cache .ci/vault-tool/build.sh fills.
func vaultBin() string {
	if b := os.Getenv("TB_TEST_VAULT_BIN"); b != "" {
		return b
	}
	home, _ := os.UserHomeDir()
	b := filepath.Join(home, ".cache", "tokenbroker", "vault-v1.21.0", "vault")
	if _, err := os.Stat(b); err == nil {
		return b
	}
	return ""
}

// server returns the package's shared Vault, starting it once.
func server(t testing.TB) *vaultServer {
	t.Helper()
	sharedOnce.Do(func() {
		bin := vaultBin()
		if bin == "" {
			sharedErr = fmt.Errorf("no Vault binary (run .ci/vault-tool/build.sh or set TB_TEST_VAULT_BIN)")
			return
		}
		dir, err := os.MkdirTemp("", "tb-vault-*")
		if err != nil {
			sharedErr = err
			return
		}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		shared = &vaultServer{bin: bin, dir: dir, addr: addr}
		sharedErr = shared.init()
	})
	if sharedErr != nil {
		if os.Getenv("TB_TEST_REQUIRE_VAULT") != "" {
			t.Fatalf("Vault is required (TB_TEST_REQUIRE_VAULT): %v", sharedErr)
		}
		t.Skipf("Vault not available: %v", sharedErr)
	}
	return shared
}

func (v *vaultServer) URL() string { return "http://" + v.addr }

func (v *vaultServer) start() error {
	cfg := fmt.Sprintf(`storage "file" { path = "%s/data" }
listener "tcp" {
  address = "%s"
  tls_disable = true
}
disable_mlock = true
api_addr = "http://%s"
ui = false
`, v.dir, v.addr, v.addr)
	cfgPath := filepath.Join(v.dir, "vault.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(v.bin, "server", "-config="+cfgPath, "-log-level=warn")
	cmd.Env = append(os.Environ(), "HOME="+v.dir)
	log, _ := os.OpenFile(filepath.Join(v.dir, "vault.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	v.mu.Lock()
	v.cmd = cmd
	v.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", v.addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(v.dir, "vault.log"))
			return fmt.Errorf("vault did not start: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *vaultServer) root() *vapi.Client {
	cfg := vapi.DefaultConfig()
	cfg.Address = v.URL()
	c, _ := vapi.NewClient(cfg)
	c.SetToken(v.rootToken)
	return c
}

// init starts Vault, initialises it with one unseal key, unseals it and
// mounts a KV v2 engine at secret/.
func (v *vaultServer) init() error {
	if err := v.start(); err != nil {
		return err
	}
	c := v.root()
	resp, err := c.Sys().Init(&vapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("vault init: %w", err)
	}
	v.unsealKey, v.rootToken = resp.Keys[0], resp.RootToken
	if err := v.unseal(); err != nil {
		return err
	}
	c.SetToken(v.rootToken)
	if err := c.Sys().Mount("transit", &vapi.MountInput{Type: "transit"}); err != nil {
		return err
	}
	return c.Sys().Mount("secret", &vapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
}

func (v *vaultServer) unseal() error {
	c := v.root()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Sys().Unseal(v.unsealKey)
		if err == nil && !st.Sealed {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault unseal: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Wait until it serves requests as active node.
	for time.Now().Before(deadline) {
		if h, err := c.Sys().Health(); err == nil && !h.Sealed && !h.Standby {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vault not active after unseal")
}

// Kill stops Vault abruptly (an outage).
func (v *vaultServer) Kill() {
	v.mu.Lock()
	cmd := v.cmd
	v.mu.Unlock()
	cmd.Process.Kill()
	cmd.Wait()
}

// Hang freezes Vault (SIGSTOP): the kernel still accepts connections, no
// request is ever answered — a backend that stalls rather than refuses.
func (v *vaultServer) Hang() { v.signal(syscall.SIGSTOP) }

// Resume undoes Hang.
func (v *vaultServer) Resume() { v.signal(syscall.SIGCONT) }

func (v *vaultServer) signal(sig syscall.Signal) {
	v.mu.Lock()
	cmd := v.cmd
	v.mu.Unlock()
	cmd.Process.Signal(sig)
}

// Restart brings Vault back with its data and unseals it.
func (v *vaultServer) Restart(t testing.TB) {
	if err := v.start(); err != nil {
		t.Fatal(err)
	}
	if err := v.unseal(); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil && shared.cmd != nil {
		shared.Kill()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
