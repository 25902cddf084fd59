package image_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/tokenbroker/tokenbroker/deploy/image"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// repo is the repository root: the Containerfile's build context.
const repo = "../.."

var buildArgs = map[string]string{"TARGETARCH": runtime.GOARCH, "VERSION": "1.2.3-test", "REVISION": "0123abcd"}

func parse(t *testing.T) *image.Containerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "deploy/Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cf, err := image.Parse(f, buildArgs)
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// context copies the build context into dir as a builder receives it:
// filtered by deploy/Containerfile.dockerignore.
func buildContext(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "deploy/Containerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, p)
		if d.IsDir() {
			if rel == ".git" || strings.HasPrefix(rel, ".tokenbroker") {
				return filepath.SkipDir
			}
			return nil
		}
		if excluded, err := pm.MatchesOrParentMatches(rel); err != nil || excluded || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// build runs the build stage's commands — its go build and its exec-form
// steps — in a copy of the context, with /out mapped to out.
func build(t *testing.T, cf *image.Containerfile, out string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	buildContext(t, src)
	mapOut := func(s string) string {
		if rest, ok := strings.CutPrefix(s, "/out/"); ok {
			return filepath.Join(out, rest)
		}
		return s
	}
	var args []string
	for _, a := range cf.GoBuild.Args {
		args = append(args, mapOut(a))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), cf.GoBuild.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cf.GoBuild.Args, " "), err, b)
	}
	for _, st := range cf.Stages {
		for _, r := range st.Runs {
			if r.Args[0] != "sh" {
				continue // go mod download, go build
			}
			script := strings.ReplaceAll(r.Args[len(r.Args)-1], "/out/", out+"/")
			if b, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
				t.Fatalf("RUN %s: %v\n%s", script, err, b)
			}
		}
	}
}

// assemble builds the final stage from out and returns it as read back
// from an OCI image layout on disk.
func assemble(t *testing.T, cf *image.Containerfile, out string) v1.Image {
	t.Helper()
	img, err := image.Assemble(cf.Final, func(stage, p string) (string, error) {
		if stage != "build" {
			return "", errors.New("unknown stage " + stage)
		}
		if rest, ok := strings.CutPrefix(p, "/out/"); ok {
			return filepath.Join(out, rest), nil
		}
		// The builder is Debian, like this machine: its CA bundle is here too.
		return p, nil
	}, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("index: %v %v", m, err)
	}
	read, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return read
}

// entry is one file of a layer.
type entry struct {
	hdr  *tar.Header
	data []byte
}

func files(t *testing.T, r io.ReadCloser) map[string]entry {
	t.Helper()
	defer r.Close()
	out := map[string]entry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = entry{h, b}
	}
}

// first is the first build's output directory, kept for the package's
// tests (a build takes minutes on a loaded CI machine).
var first struct {
	sync.Mutex
	dir string
}

func firstBuild(t *testing.T, cf *image.Containerfile) string {
	t.Helper()
	first.Lock()
	defer first.Unlock()
	if first.dir == "" {
		dir, err := os.MkdirTemp("", "tokenbroker-image-")
		if err != nil {
			t.Fatal(err)
		}
		build(t, cf, dir)
		first.dir = dir
	}
	return first.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if first.dir != "" {
		os.RemoveAll(first.dir)
	}
	os.Exit(code)
}

// The image as the Containerfile describes it, assembled from the binary
// its own build command makes, inspected and run.
func TestImage(t *testing.T) {
	cf := parse(t)
	out := firstBuild(t, cf)
	img := assemble(t, cf, out)
	c, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	fsys := files(t, mutate.Extract(img))

	t.Run("user", func(t *testing.T) {
		uid, _, _ := strings.Cut(c.Config.User, ":")
		if uid != "65532" {
			t.Fatalf("USER %q, want 65532 (non-root)", c.Config.User)
		}
		// The passwd entry names it, with no login shell (and there is none).
		if !strings.Contains(string(fsys["/etc/passwd"].data), ":65532:65532:") || strings.Contains(string(fsys["/etc/passwd"].data), ":0:") {
			t.Errorf("/etc/passwd: %q", fsys["/etc/passwd"].data)
		}
		if h := fsys[c.Config.WorkingDir].hdr; h == nil || h.Uid != 65532 || h.Typeflag != tar.TypeDir {
			t.Errorf("WORKDIR %s is not the user's directory: %+v", c.Config.WorkingDir, h)
		}
	})
	t.Run("entrypoint", func(t *testing.T) {
		if !slices.Equal(c.Config.Entrypoint, []string{"/tokenbroker"}) || !slices.Equal(c.Config.Cmd, []string{"serve"}) {
			t.Errorf("ENTRYPOINT %q CMD %q", c.Config.Entrypoint, c.Config.Cmd)
		}
		h := fsys["/tokenbroker"].hdr
		if h == nil || h.Mode&0o111 == 0 || h.Uid != 0 || h.Mode&0o022 != 0 {
			t.Errorf("/tokenbroker: %+v, want executable, root's, not writable by the user", h)
		}
	})
	t.Run("nothing but the binary", func(t *testing.T) {
		// Every layer, not only the flattened result: a file deleted by a
		// later layer would still ship.
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/etc/group", "/etc/passwd", "/etc/ssl/certs/ca-certificates.crt", "/tokenbroker"}
		var got []string
		for _, l := range layers {
			r, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			for name, e := range files(t, r) {
				base := path.Base(name)
				if slices.Contains([]string{"sh", "bash", "ash", "dash", "busybox", "apt", "apt-get", "dpkg", "apk", "yum", "dnf", "rpm", "microdnf", "pip"}, base) {
					t.Errorf("%s: a shell or package manager", name)
				}
				if e.hdr.Typeflag != tar.TypeDir {
					got = append(got, name)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("files %q, want exactly %q", got, want)
		}
	})
	t.Run("static", func(t *testing.T) {
		f, err := elf.NewFile(bytes.NewReader(fsys["/tokenbroker"].data))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("program header %v: the binary is not static", p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("needs %q", libs)
		}
		if f.Section(".symtab") != nil {
			t.Error("symbol table kept: -ldflags -s missing")
		}
	})
	t.Run("labels", func(t *testing.T) {
		mod, _ := os.ReadFile(filepath.Join(repo, "go.mod"))
		module := strings.TrimPrefix(strings.SplitN(string(mod), "\n", 2)[0], "module ")
		for k, want := range map[string]string{
			"org.opencontainers.image.source":   "https://" + module,
			"org.opencontainers.image.version":  buildArgs["VERSION"],
			"org.opencontainers.image.revision": buildArgs["REVISION"],
			"org.opencontainers.image.licenses": "NOASSERTION",
		} {
			if got := c.Config.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
	})
	t.Run("ports", func(t *testing.T) {
		var ports []string
		for p := range c.Config.ExposedPorts {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		// listen, mtls.listen, admin.listen (docs/deployment.md).
		if want := []string{"8443/tcp", "8444/tcp", "9090/tcp"}; !slices.Equal(ports, want) {
			t.Errorf("EXPOSE %q, want %q", ports, want)
		}
	})
	t.Run("size", func(t *testing.T) {
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, l := range m.Layers {
			total += l.Size
		}
		t.Logf("image: %d layers, %.1f MiB compressed, binary %.1f MiB", len(m.Layers), float64(total)/(1<<20), float64(len(fsys["/tokenbroker"].data))/(1<<20))
		if total > 20<<20 {
			t.Errorf("image is %d bytes compressed, budget 20 MiB", total)
		}
	})
	t.Run("runs", func(t *testing.T) { runImage(t, c, fsys) })
}

// runImage runs the binary extracted from the layer as the image would:
// its ENV, "serve --dev" as the command; gets a token; then runs the
// HEALTHCHECK command: 0 while it serves, 1 once it stopped.
func runImage(t *testing.T, c *v1.ConfigFile, fsys map[string]entry) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokenbroker")
	if err := os.WriteFile(bin, fsys["/tokenbroker"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	addr, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	// The image's TOKENBROKER_CONFIG names a mounted file: mount one that
	// only opens the admin listener (dev mode reads its own configuration).
	cfgFile := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgFile, []byte("admin:\n  listen: "+admin+"\n"), 0o644)
	environ := []string{"TOKENBROKER_ADMIN_LISTEN=" + admin}
	for _, kv := range c.Config.Env {
		if k, _, _ := strings.Cut(kv, "="); k == "TOKENBROKER_CONFIG" {
			kv = k + "=" + cfgFile
		}
		environ = append(environ, kv)
	}
	state := filepath.Join(dir, "state")
	args := append(slices.Clone(c.Config.Cmd), "--dev", "--state-dir", state, "--listen", addr)
	serve := exec.Command(bin, args...)
	serve.Env, serve.Dir = environ, dir
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &testkit.Buffer{}
	serve.Stderr, serve.Stdout = stderr, io.Discard
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when serve has exited, with its error in exitErr:
	// every reader sees it (a channel send would be taken once).
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = serve.Wait(); close(exited) }()
	t.Cleanup(func() { serve.Process.Kill(); <-exited })
	testkit.WaitFor(t, "serve --dev from the image's binary", func() bool {
		select {
		case <-exited:
			t.Fatalf("serve exited: %v\n%s", exitErr, stderr)
		default:
		}
		return strings.Contains(stderr.String(), "admin listening")
	})

	// A token, as the README's first curl line gets it.
	ca, _ := os.ReadFile(filepath.Join(state, "ca.pem"))
	secret, _ := os.ReadFile(filepath.Join(state, "demo/demo-basic/secret"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-basic", url.QueryEscape(strings.TrimSpace(string(secret))))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Count(tok.AccessToken, ".") != 2 || tok.TokenType != "Bearer" {
		t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}

	hc2 := c.Config.Healthcheck
	if hc2 == nil || len(hc2.Test) < 2 || hc2.Test[0] != "CMD" || hc2.Test[1] != c.Config.Entrypoint[0] || hc2.Timeout <= 0 || hc2.Interval <= 0 {
		t.Fatalf("HEALTHCHECK %+v, want CMD %s … with interval and timeout", hc2, c.Config.Entrypoint[0])
	}
	check := func() (int, string) {
		cmd := exec.CommandContext(context.Background(), bin, hc2.Test[2:]...)
		cmd.Env, cmd.Dir = environ, dir
		b, err := cmd.CombinedOutput()
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			return ee.ExitCode(), string(b)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(b)
	}
	if code, out := check(); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("HEALTHCHECK while serving: exit %d %q", code, out)
	}
	serve.Process.Signal(syscall.SIGTERM)
	<-exited
	if code, out := check(); code != 1 {
		t.Errorf("HEALTHCHECK after stop: exit %d %q, want 1 (unhealthy; Docker reserves 2)", code, out)
	}
}

// The same commit gives the same binary and the same image: built twice
// from two copies of the context in different directories.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	cf := parse(t)
	var bins, digests []string
	for i := range 2 {
		out := firstBuild(t, cf)
		if i == 1 {
			out = t.TempDir()
			build(t, cf, out)
		}
		f, err := os.Open(filepath.Join(out, "tokenbroker"))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, bufio.NewReader(f))
		f.Close()
		bins = append(bins, hex.EncodeToString(h.Sum(nil)))
		d, err := assemble(t, cf, out).Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if bins[0] != bins[1] {
		t.Errorf("binary sha256 %s then %s", bins[0], bins[1])
	}
	if digests[0] != digests[1] {
		t.Errorf("image %s then %s", digests[0], digests[1])
	}
	t.Logf("binary sha256:%s, image %s", bins[0], digests[0])
}
