package layering_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tokenbroker/tokenbroker"

// rank is a package's layer; a package may depend only on packages of a
// lower or equal rank. internal/ (rank -1) is below everything.
func rank(path string) (int, bool) {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return 0, false // outside the module
	}
	for i, l := range []string{"internal", "certs", "backends", "authn", "broker", "cmd"} {
		if rel == l || strings.HasPrefix(rel, l+"/") {
			return i - 1, true
		}
	}
	return 0, false
}

// under reports whether path is the module package rel or below it.
func under(path, rel string) bool {
	return path == module+"/"+rel || strings.HasPrefix(path, module+"/"+rel+"/")
}

// rule is one "must not depend on" beyond the ranks.
type rule struct {
	why  string
	from func(pkg string) bool // the packages the rule holds for
	bans func(dep string) bool // the dependencies they must not have
}

var rules = []rule{
	{
		why:  "a backend never imports the cache that wraps it",
		from: func(p string) bool { return under(p, "backends") && !under(p, "backends/cache") },
		bans: func(d string) bool { return under(d, "backends/cache") },
	},
	{
		why:  "the backends model (records, interfaces, errors) is the bottom of its layer",
		from: func(p string) bool { return p == module+"/backends" },
		bans: func(d string) bool { return under(d, "backends") && d != module+"/backends" },
	},
	{
		why:  "authn owns the ClientSource interface and depends on no cache",
		from: func(p string) bool { return under(p, "authn") },
		bans: func(d string) bool { return under(d, "backends/cache") },
	},
	{
		why: "libraries take typed options and never name configuration keys: only the runtime (and cmd) read internal/config",
		from: func(p string) bool {
			return (under(p, "broker") || under(p, "authn") || under(p, "backends") || under(p, "certs")) && !under(p, "broker/runtime")
		},
		bans: func(d string) bool { return under(d, "internal/config") },
	},
	{
		why:  "the client kit pulls in neither the server nor Echo",
		from: func(p string) bool { return under(p, "authn/tokensource") },
		bans: func(d string) bool {
			return strings.HasPrefix(d, "github.com/labstack/echo") || under(d, "broker") || under(d, "backends")
		},
	},
	{
		why: "the registry, the audit trail and the policy know no HTTP framework and no cache",
		from: func(p string) bool {
			return under(p, "broker/registry") || under(p, "broker/audit") || under(p, "broker/policy")
		},
		bans: func(d string) bool {
			return strings.HasPrefix(d, "github.com/labstack/echo") || under(d, "backends/cache") || d == module+"/broker"
		},
	},
}

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Deps       []string
	Error      *struct{ Err string }
}

// violations lists every dependency that points up or breaks a rule.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := rank(p.ImportPath)
		if !ok {
			continue
		}
		for _, d := range p.Deps {
			if to, ok := rank(d); ok && to > from {
				out = append(out, p.ImportPath+" → "+d+": points up (cmd → broker → authn → backends → certs → internal)")
			}
			for _, r := range rules {
				if r.from(p.ImportPath) && r.bans(d) {
					out = append(out, p.ImportPath+" → "+d+": "+r.why)
				}
			}
		}
	}
	return out
}

// TestLayersPointDown checks every package of the module, with what the
// package itself imports (its tests may drive a whole broker).
func TestLayersPointDown(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; is the test run inside the module?", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(strings.ReplaceAll(v, module+"/", ""))
	}
}

// TestViolationsFound keeps the checker honest: each kind of wrong import is reported.
func TestViolationsFound(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	for _, tc := range []struct {
		name, from, dep string
	}{
		{"backend imports authn", "backends/vault", "authn"},
		{"backends model imports authn's internals", "backends", "authn/internal/jws"},
		{"certs imports backends", "certs", "backends"},
		{"internal imports certs", "internal/es256", "certs"},
		{"authn imports broker", "authn/resource", "broker"},
		{"broker imports cmd", "broker", "cmd/tokenbroker"},
		{"backend imports its cache", "backends/awssm", "backends/cache"},
		{"model imports a backend", "backends", "backends/state"},
		{"authn imports the cache", "authn", "backends/cache"},
		{"client kit imports the model", "authn/tokensource", "backends"},
		{"registry imports the cache", "broker/registry", "backends/cache"},
		{"library reads the configuration", "broker", "internal/config"},
		{"backend reads the configuration", "backends/vault", "internal/config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v := violations([]pkg{{ImportPath: m(tc.from), Deps: []string{m(tc.dep)}}}); len(v) == 0 {
				t.Errorf("%s → %s not reported", tc.from, tc.dep)
			}
		})
	}
	for _, tc := range []struct{ from, dep string }{
		{"cmd/tokenbroker", "broker"},
		{"broker/runtime", "internal/config"},
		{"cmd/tokenbroker", "broker/runtime"},
		{"broker", "backends/cache"},
		{"backends/cache", "backends"},
		{"backends/vault", "certs"},
		{"certs", "internal/es256"},
		{"authn", "authn/internal/jws"},
		{"broker", "broker/registry"},
		{"broker/registry", "broker/audit"},
	} {
		if v := violations([]pkg{{ImportPath: m(tc.from), Deps: []string{m(tc.dep)}}}); len(v) != 0 {
			t.Errorf("allowed import reported: %v", v)
		}
	}
	if v := violations([]pkg{{ImportPath: m("authn/tokensource"), Deps: []string{"github.com/labstack/echo/v4"}}}); len(v) == 0 {
		t.Error("client kit → Echo not reported")
	}
}

// goList runs `go list -deps -json` over the module (non-test imports).
func goList(t *testing.T) []pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "list", "-e", "-deps", "-json=ImportPath,Deps,Error", module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		if _, ok := rank(p.ImportPath); ok && !slices.Contains(p.Deps, p.ImportPath) {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}
