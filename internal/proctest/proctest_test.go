package proctest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tokenbroker/tokenbroker/internal/proctest"
)

func TestCached(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	d := filepath.Join(home, ".cache", "tokenbroker", "tool-v1")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "a"), nil, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := proctest.Cached("tool-v1", "a"); got != d {
		t.Errorf("Cached(a) = %q, want %q", got, d)
	}
	if got := proctest.Cached("tool-v1", "a", "b"); got != "" {
		t.Errorf("Cached(a, b) with b missing = %q, want none", got)
	}
}

func TestStartLogsAppendsAndGroups(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	log := filepath.Join(t.TempDir(), "x.log")
	for _, word := range []string{"one", "two"} {
		cmd := exec.Command(sh, "-c", "echo "+word+"; echo err-"+word+" >&2")
		if err := proctest.Start(cmd, log, true); err != nil {
			t.Fatal(err)
		}
		if pg, err := syscall.Getpgid(cmd.Process.Pid); err == nil && pg != cmd.Process.Pid {
			t.Errorf("process group %d, want its own (%d)", pg, cmd.Process.Pid)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"one", "err-one", "two", "err-two"} {
		if !strings.Contains(string(b), w+"\n") {
			t.Errorf("log %q lacks %q (output and errors of both runs)", b, w)
		}
	}
}

func TestUnavailableSkips(t *testing.T) {
	t.Setenv("TB_TEST_REQUIRE_PROCTEST_X", "")
	ran := false
	t.Run("sub", func(t *testing.T) {
		defer func() { ran = true }()
		proctest.Unavailable(t, "X", "TB_TEST_REQUIRE_PROCTEST_X", os.ErrNotExist)
		t.Error("Unavailable returned")
	})
	if !ran {
		t.Error("the subtest did not end")
	}
}
