package vaulttest

import (
	"errors"
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

	"github.com/tokenbroker/tokenbroker/internal/proctest"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// startTimeout bounds a start, unseal included (a loaded machine is slow).
const startTimeout = 60 * time.Second

// Bin returns the Vault binary, or "" when there is none.
func Bin() string {
	if b := os.Getenv("TB_TEST_VAULT_BIN"); b != "" {
		return b
	}
	if d := proctest.Cached("vault-v1.21.0", "vault"); d != "" {
		return filepath.Join(d, "vault")
	}
	return ""
}

// ErrNoBinary means no Vault binary was found.
var ErrNoBinary = errors.New("vaulttest: no Vault binary (run .ci/vault-tool/build.sh or set TB_TEST_VAULT_BIN)")

// Unavailable skips t for err, or fails it when TB_TEST_REQUIRE_VAULT is set.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	proctest.Unavailable(t, "Vault", "TB_TEST_REQUIRE_VAULT", err)
}

type options struct {
	file   bool
	tls    bool
	mounts [][2]string
}

// Option configures a server.
type Option func(*options)

// FileStorage runs Vault on file storage, initialised and unsealed by the
// launcher, so Kill and Restart keep the data.
func FileStorage() Option { return func(o *options) { o.file = true } }

// TLS serves HTTPS with a certificate signed by the CA in CACert (dev mode
// only), for logins with a client certificate.
func TLS() Option { return func(o *options) { o.tls = true } }

// Mount enables a secrets engine of type typ at path once the server is up.
func Mount(path, typ string) Option {
	return func(o *options) { o.mounts = append(o.mounts, [2]string{path, typ}) }
}

// Server is a running Vault.
type Server struct {
	bin, dir, addr string
	tmp            bool // dir is ours to remove
	opt            options
	unsealKey      string
	rootToken      string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start launches a server for t, stopped when t ends; it skips or fails t
// (see Unavailable) when Vault cannot run.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	v, err := launch(t.TempDir(), opts)
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(v.Close)
	return v
}

// Launch starts a server in a new temporary directory; Close stops it and
// removes the directory. For servers that outlive one test (see Shared).
func Launch(opts ...Option) (*Server, error) {
	dir, err := os.MkdirTemp("", "tb-vault-*")
	if err != nil {
		return nil, err
	}
	v, err := launch(dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	v.tmp = true
	return v, nil
}

func launch(dir string, opts []Option) (*Server, error) {
	bin := Bin()
	if bin == "" {
		return nil, ErrNoBinary
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.file && o.tls {
		return nil, errors.New("vaulttest: TLS is a dev-mode option")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	v := &Server{bin: bin, dir: dir, addr: addr, opt: o, rootToken: "root"}
	if err := v.boot(); err != nil {
		v.Close()
		return nil, err
	}
	root := v.Root()
	for _, m := range o.mounts {
		if err := root.Sys().Mount(m[0], &vapi.MountInput{Type: m[1]}); err != nil {
			v.Close()
			return nil, fmt.Errorf("vaulttest: mount %s: %w", m[0], err)
		}
	}
	return v, nil
}

// boot starts the process and waits until it serves as the active node.
func (v *Server) boot() error {
	if !v.opt.file {
		return v.start(v.devArgs())
	}
	if err := v.start(v.fileArgs()); err != nil {
		return err
	}
	c := v.client()
	resp, err := c.Sys().Init(&vapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("vaulttest: init: %w", err)
	}
	v.unsealKey, v.rootToken = resp.Keys[0], resp.RootToken
	if err := v.unseal(); err != nil {
		return err
	}
	// Like dev mode: KV v2 at secret/.
	return v.Root().Sys().Mount("secret", &vapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}})
}

func (v *Server) devArgs() []string {
	args := []string{"server", "-dev", "-dev-root-token-id=root", "-dev-listen-address=" + v.addr, "-log-level=warn"}
	if v.opt.tls {
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+v.dir)
	}
	return args
}

func (v *Server) fileArgs() []string {
	return []string{"server", "-config=" + filepath.Join(v.dir, "vault.hcl"), "-log-level=warn"}
}

func (v *Server) start(args []string) error {
	if v.opt.file {
		cfg := fmt.Sprintf(`storage "file" { path = "%s/data" }
listener "tcp" {
  address = "%s"
  tls_disable = true
}
disable_mlock = true
api_addr = "http://%s"
ui = false
`, v.dir, v.addr, v.addr)
		if err := os.WriteFile(filepath.Join(v.dir, "vault.hcl"), []byte(cfg), 0o600); err != nil {
			return err
		}
	}
	cmd := exec.Command(v.bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+v.dir)
	if err := proctest.Start(cmd, v.logPath(), false); err != nil {
		return err
	}
	v.mu.Lock()
	v.cmd = cmd
	v.mu.Unlock()
	ready := func() bool {
		if v.opt.file { // sealed until unsealed: the listener is enough
			c, err := net.Dial("tcp", v.addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		if v.opt.tls {
			if _, err := os.Stat(v.CACert()); err != nil {
				return false
			}
		}
		h, err := v.client().Sys().Health()
		return err == nil && !h.Sealed
	}
	if poll(ready) != nil {
		b, _ := os.ReadFile(v.logPath())
		return fmt.Errorf("vaulttest: vault did not start: %s", b)
	}
	return nil
}

func (v *Server) logPath() string { return filepath.Join(v.dir, "vault.log") }

// poll waits for cond for up to startTimeout.
func poll(cond func() bool) error { return testkit.Poll(startTimeout, cond) }

func (v *Server) unseal() error {
	c := v.client()
	var lastErr error
	if poll(func() bool {
		st, err := c.Sys().Unseal(v.unsealKey)
		lastErr = err
		return err == nil && !st.Sealed
	}) != nil {
		return fmt.Errorf("vaulttest: unseal: %v", lastErr)
	}
	// Serving requests as the active node.
	if poll(func() bool {
		h, err := c.Sys().Health()
		return err == nil && !h.Sealed && !h.Standby
	}) != nil {
		return errors.New("vaulttest: vault not active after unseal")
	}
	return nil
}

// URL is the server's address, http:// or (TLS) https://.
func (v *Server) URL() string {
	if v.opt.tls {
		return "https://" + v.addr
	}
	return "http://" + v.addr
}

// Dir is the server's directory (its data, log and, with TLS, CA).
func (v *Server) Dir() string { return v.dir }

// CACert is the file of the CA that signed a TLS server's certificate.
func (v *Server) CACert() string { return filepath.Join(v.dir, "vault-ca.pem") }

// RootToken is the root token.
func (v *Server) RootToken() string { return v.rootToken }

// client is an API client without a token.
func (v *Server) client() *vapi.Client {
	cfg := vapi.DefaultConfig()
	cfg.Address = v.URL()
	if v.opt.tls {
		_ = cfg.ConfigureTLS(&vapi.TLSConfig{CACert: v.CACert()})
	}
	c, _ := vapi.NewClient(cfg)
	c.ClearToken()
	return c
}

// Root is an API client with the root token.
func (v *Server) Root() *vapi.Client {
	c := v.client()
	c.SetToken(v.rootToken)
	return c
}

// Kill stops Vault abruptly (an outage).
func (v *Server) Kill() {
	v.mu.Lock()
	cmd := v.cmd
	v.cmd = nil
	v.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// Hang freezes Vault (SIGSTOP): the kernel still accepts connections, no
// request is ever answered — a backend that stalls rather than refuses.
func (v *Server) Hang() { v.signal(syscall.SIGSTOP) }

// Resume undoes Hang.
func (v *Server) Resume() { v.signal(syscall.SIGCONT) }

func (v *Server) signal(sig syscall.Signal) {
	v.mu.Lock()
	cmd := v.cmd
	v.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(sig)
	}
}

// Unseal unseals a FileStorage server sealed by a test, and waits until it
// serves as the active node.
func (v *Server) Unseal() error {
	if !v.opt.file {
		return errors.New("vaulttest: Unseal needs FileStorage")
	}
	return v.unseal()
}

// Restart brings a killed FileStorage server back with its data, unsealed.
func (v *Server) Restart() error {
	if !v.opt.file {
		return errors.New("vaulttest: Restart needs FileStorage (dev mode keeps nothing)")
	}
	v.Kill()
	if err := v.start(v.fileArgs()); err != nil {
		return err
	}
	return v.unseal()
}

// Close stops the server (resuming it first if hung) and, for Launch,
// removes its directory. Safe to call twice.
func (v *Server) Close() {
	v.Resume()
	v.Kill()
	if v.tmp {
		os.RemoveAll(v.dir)
	}
}

// SharedServer is one server for a whole test package, started on first use.
type SharedServer struct {
	opts []Option
	once sync.Once
	v    *Server
	err  error
}

// Shared returns a server that starts on the first Get; stop it with Close
// in TestMain.
func Shared(opts ...Option) *SharedServer { return &SharedServer{opts: opts} }

// Get returns the running server, starting it once; it skips or fails t
// (see Unavailable) when Vault cannot run.
func (s *SharedServer) Get(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() { s.v, s.err = Launch(s.opts...) })
	if s.err != nil {
		Unavailable(t, s.err)
	}
	return s.v
}

// Close stops the server if it was started.
func (s *SharedServer) Close() {
	if s.v != nil {
		s.v.Close()
	}
}
