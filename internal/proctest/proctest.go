package proctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Cached returns the folder ~/.cache/tokenbroker/version where a .ci build
// script leaves a tool, when it holds every one of names; else "".
func Cached(version string, names ...string) string {
	home, _ := os.UserHomeDir()
	d := filepath.Join(home, ".cache", "tokenbroker", version)
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(d, n)); err != nil {
			return ""
		}
	}
	return d
}

// Unavailable skips t because what (a server) cannot run for err, or fails
// t when the environment variable requireEnv is set (CI, where a missing
// server is a broken setup, not a reason to skip).
func Unavailable(t testing.TB, what, requireEnv string, err error) {
	t.Helper()
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s is required (%s): %v", what, requireEnv, err)
	}
	t.Skipf("%s not available: %v", what, err)
}

// Start starts cmd with its output appended to the file logPath, killed
// with the test binary if that dies first (a test timeout: no server
// outlives the test run), and in a process group of its own when group (to
// kill it with whatever it starts: syscall.Kill(-pid, sig)). The caller
// waits for cmd.
func Start(cmd *exec.Cmd, logPath string, group bool) error {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close() // the child holds its own copy
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
	return cmd.Start()
}
