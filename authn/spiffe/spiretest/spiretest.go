package spiretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// startTimeout bounds the start of the server and the agent (a loaded machine is slow).
const startTimeout = 90 * time.Second

// Dir returns the folder holding spire-server and spire-agent, or "".
func Dir() string {
	if d := os.Getenv("TB_TEST_SPIRE_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	d := filepath.Join(home, ".cache", "tokenbroker", "spire-v1.13.3")
	for _, b := range []string{"spire-server", "spire-agent"} {
		if _, err := os.Stat(filepath.Join(d, b)); err != nil {
			return ""
		}
	}
	return d
}

// ErrNoBinary means no SPIRE binaries were found.
var ErrNoBinary = errors.New("spiretest: no SPIRE binaries (run .ci/spire-tool/build.sh or set TB_TEST_SPIRE_DIR)")

// Unavailable skips t for err, or fails it when TB_TEST_REQUIRE_SPIRE is set.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("TB_TEST_REQUIRE_SPIRE") != "" {
		t.Fatalf("SPIRE is required (TB_TEST_REQUIRE_SPIRE): %v", err)
	}
	t.Skipf("SPIRE not available: %v", err)
}

type options struct {
	td              string
	caTTL, svidTTL  time.Duration
	jwtTTL          time.Duration
	refreshHintSecs int
}

// Option configures Start.
type Option func(*options)

// TrustDomain names the trust domain (default spire.test).
func TrustDomain(td string) Option { return func(o *options) { o.td = td } }

// TTLs sets the CA TTL and the default X.509- and JWT-SVID TTLs (SPIRE
// wants the CA TTL at least six times the SVID TTL).
func TTLs(ca, x509SVID, jwtSVID time.Duration) Option {
	return func(o *options) { o.caTTL, o.svidTTL, o.jwtTTL = ca, x509SVID, jwtSVID }
}

// SPIRE is a running server and agent.
type SPIRE struct {
	dir, bin string
	opt      options
	TD       spiffeid.TrustDomain
	// ServerID is the server's SPIFFE ID: the identity its bundle endpoint presents.
	ServerID spiffeid.ID
	// AgentID is the agent's alias, the parent of the entries CreateEntry makes.
	AgentID    spiffeid.ID
	serverAPI  string
	serverPort int
	bundleEP   string

	mu    sync.Mutex
	procs []*exec.Cmd
}

// Start runs a SPIRE server and agent for t, stopped when t ends; it skips
// or fails t (Unavailable) when the binaries are missing.
func Start(t testing.TB, opts ...Option) *SPIRE {
	t.Helper()
	bin := Dir()
	if bin == "" {
		Unavailable(t, ErrNoBinary)
	}
	o := options{td: "spire.test", caTTL: 10 * time.Minute, svidTTL: time.Minute, jwtTTL: time.Minute}
	for _, f := range opts {
		f(&o)
	}
	// A short directory: the Workload API socket path must fit a sockaddr_un.
	dir, err := os.MkdirTemp("", "spire")
	if err != nil {
		t.Fatal(err)
	}
	s := &SPIRE{dir: dir, bin: bin, opt: o, TD: spiffeid.RequireTrustDomainFromString(o.td)}
	s.ServerID = spiffeid.RequireFromPath(s.TD, "/spire/server")
	s.AgentID = spiffeid.RequireFromPath(s.TD, "/agent")
	t.Cleanup(func() { s.Stop(); os.RemoveAll(dir) })
	if err := s.startServer(t); err != nil {
		t.Fatalf("spiretest: server: %v\n%s", err, s.logTail("server.log"))
	}
	if err := s.startAgent(t); err != nil {
		t.Fatalf("spiretest: agent: %v\n%s", err, s.logTail("agent.log"))
	}
	return s
}

func (s *SPIRE) startServer(t testing.TB) error {
	port := freePort(t)
	bport := freePort(t)
	s.serverAPI = filepath.Join(s.dir, "server.sock")
	s.bundleEP = "https://127.0.0.1:" + strconv.Itoa(bport)
	conf := fmt.Sprintf(`server {
  bind_address = "127.0.0.1"
  bind_port = "%d"
  socket_path = %q
  trust_domain = %q
  data_dir = %q
  log_level = "WARN"
  ca_key_type = "ec-p256"
  ca_ttl = %q
  default_x509_svid_ttl = %q
  default_jwt_svid_ttl = %q
  federation {
    bundle_endpoint {
      address = "127.0.0.1"
      port = %d
    }
  }
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = %q
    }
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "memory" {
    plugin_data {}
  }
}
`, port, s.serverAPI, s.opt.td, filepath.Join(s.dir, "server-data"), s.opt.caTTL.String(), s.opt.svidTTL.String(), s.opt.jwtTTL.String(), bport, filepath.Join(s.dir, "datastore.sqlite3"))
	cf := filepath.Join(s.dir, "server.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := s.spawn("spire-server", "server.log", "run", "-config", cf); err != nil {
		return err
	}
	s.serverPort = port
	return poll(func() bool { _, err := s.Server(context.Background(), "healthcheck"); return err == nil })
}

func (s *SPIRE) startAgent(t testing.TB) error {
	out, err := s.Server(context.Background(), "token", "generate", "-spiffeID", s.AgentID.String(), "-ttl", "600")
	if err != nil {
		return err
	}
	tok, ok := strings.CutPrefix(strings.TrimSpace(out), "Token: ")
	if !ok {
		return fmt.Errorf("token generate printed %q", out)
	}
	conf := fmt.Sprintf(`agent {
  data_dir = %q
  log_level = "WARN"
  server_address = "127.0.0.1"
  server_port = "%d"
  socket_path = %q
  trust_domain = %q
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "memory" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`, filepath.Join(s.dir, "agent-data"), s.serverPort, s.agentSocket(), s.opt.td)
	cf := filepath.Join(s.dir, "agent.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := s.spawn("spire-agent", "agent.log", "run", "-config", cf, "-joinToken", tok); err != nil {
		return err
	}
	return poll(func() bool {
		_, err := s.run(context.Background(), "spire-agent", "healthcheck", "-socketPath", s.agentSocket())
		return err == nil
	})
}

func (s *SPIRE) agentSocket() string { return filepath.Join(s.dir, "agent.sock") }

// WorkloadAPI is the agent's Workload API address.
func (s *SPIRE) WorkloadAPI() string { return "unix://" + s.agentSocket() }

// BundleEndpointURL is the server's bundle endpoint (https_spiffe profile,
// presenting ServerID).
func (s *SPIRE) BundleEndpointURL() string { return s.bundleEP }

// Bundle is the server's current bundle (spire-server bundle show).
func (s *SPIRE) Bundle(ctx context.Context) (*spiffebundle.Bundle, error) {
	out, err := s.Server(ctx, "bundle", "show", "-format", "spiffe")
	if err != nil {
		return nil, err
	}
	return spiffebundle.Parse(s.TD, []byte(out))
}

// CreateEntry registers spiffeID for workloads matching selector (e.g.
// unix:uid:0) with SVID TTL ttl, under the agent.
func (s *SPIRE) CreateEntry(t testing.TB, spiffeID, selector string, ttl time.Duration) {
	t.Helper()
	secs := strconv.Itoa(int(ttl.Seconds()))
	if _, err := s.Server(context.Background(), "entry", "create", "-parentID", s.AgentID.String(), "-spiffeID", spiffeID,
		"-selector", selector, "-x509SVIDTTL", secs, "-jwtSVIDTTL", secs); err != nil {
		t.Fatalf("spiretest: entry create: %v", err)
	}
}

// ActivatePrepared activates the prepared authority of kind ("x509" or
// "jwt", made by "spire-server localauthority <kind> prepare"): SVIDs are
// signed by it from then on; the old one stays in the bundle.
func (s *SPIRE) ActivatePrepared(ctx context.Context, kind string) error {
	out, err := s.Server(ctx, "localauthority", kind, "show", "-output", "json")
	if err != nil {
		return err
	}
	type shown struct {
		Prepared struct {
			AuthorityID string `json:"authority_id"`
		} `json:"prepared"`
	}
	var r shown
	var list []shown // the printer may wrap the message in an array
	if json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 {
		r = list[0]
	} else if err := json.Unmarshal([]byte(out), &r); err != nil {
		r = shown{}
	}
	if r.Prepared.AuthorityID == "" {
		return fmt.Errorf("localauthority %s show printed %q", kind, out)
	}
	_, err = s.Server(ctx, "localauthority", kind, "activate", "-authorityID", r.Prepared.AuthorityID)
	return err
}

// Server runs a spire-server command (its words, then its flags) against
// this server's API socket.
func (s *SPIRE) Server(ctx context.Context, args ...string) (string, error) {
	n := len(args)
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			n = i
			break
		}
	}
	full := append(append(append([]string{}, args[:n]...), "-socketPath", s.serverAPI), args[n:]...)
	return s.run(ctx, "spire-server", full...)
}

func (s *SPIRE) run(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, bin), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// spawn starts a long-running SPIRE process in its own process group,
// logging to logName in the directory.
func (s *SPIRE) spawn(bin, logName string, args ...string) error {
	lf, err := os.Create(filepath.Join(s.dir, logName))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.bin, bin), args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = s.dir
	// Its own process group (Stop kills it whole), and killed with the test
	// binary if that dies before Stop (a test timeout): no SPIRE outlives it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, cmd)
	s.mu.Unlock()
	go func() { _ = cmd.Wait(); lf.Close() }()
	return nil
}

// Stop kills the agent and the server (only the processes Start began).
func (s *SPIRE) Stop() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if p := procs[i].Process; p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
}

func (s *SPIRE) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, name))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort(t testing.TB) int {
	_, p, _ := net.SplitHostPort(testkit.FreeAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

func poll(cond func() bool) error { return testkit.Poll(startTimeout, cond) }
