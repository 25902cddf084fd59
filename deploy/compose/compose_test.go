package compose_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/tokenbroker/tokenbroker/backends/vault"
	brokerruntime "github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/deploy/image"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

const repo = "../.."

var (
	bin string // the tokenbroker CLI, built once
	pki string // what .ci/compose/pki.sh wrote
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokenbroker-compose-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "tokenbroker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tokenbroker/tokenbroker/cmd/tokenbroker").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	pki = filepath.Join(dir, "pki")
	code := 1
	if out, err := exec.Command("sh", filepath.Join(repo, ".ci/compose/pki.sh"), pki).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "pki.sh: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func load(t *testing.T, profile string) *types.Project {
	t.Helper()
	abs, _ := filepath.Abs(repo)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(abs, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("tokenbroker", true)
		o.Profiles = []string{profile}
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The image every broker service runs, as deploy/Containerfile defines it.
func containerfile(t *testing.T) *image.Containerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "deploy/Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cf, err := image.Parse(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// Each profile runs the broker from the image built here, on its real
// backend with Redis and the nginx front, seeds through the CLI, and
// everything it names exists.
func TestComposeProfiles(t *testing.T) {
	cf := containerfile(t)
	abs, _ := filepath.Abs(repo)
	for profile, backend := range map[string]string{"vault": "vault", "aws": "awssm"} {
		t.Run(profile, func(t *testing.T) {
			p := load(t, profile)
			want := []string{"redis", "broker-" + profile, "seed-" + profile, "seed-" + profile + "-mtls", "nginx-" + profile}
			for _, name := range want {
				if _, ok := p.Services[name]; !ok {
					t.Errorf("profile %s has no service %s (has %v)", profile, name, p.ServiceNames())
				}
			}
			var brokers []types.ServiceConfig
			for name, s := range p.Services {
				checkImage(t, abs, s)
				if s.Build == nil {
					continue
				}
				if len(s.Entrypoint) > 0 {
					t.Errorf("%s overrides the image's entrypoint %q", name, s.Entrypoint)
				}
				checkCommand(t, name, s.Command)
				fc := checkConfig(t, name, s, backend)
				if s.Command[0] == "serve" {
					brokers = append(brokers, s)
					checkBrokerService(t, cf, s, fc)
					checkNginx(t, p, s, fc)
				} else if d, ok := s.DependsOn["broker-"+profile]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("%s: seeds wait for the broker's HEALTHCHECK (depends_on condition service_healthy), got %+v", name, s.DependsOn)
				}
			}
			if len(brokers) != 1 {
				t.Errorf("%d brokers in profile %s", len(brokers), profile)
			}
		})
	}
}

// Third-party images are pinned; the broker's is built from deploy/Containerfile.
func checkImage(t *testing.T, abs string, s types.ServiceConfig) {
	t.Helper()
	if s.Build == nil {
		if !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest") || strings.HasPrefix(s.Image, "golang:") {
			t.Errorf("%s: image %q (pinned, and no Go toolchain: the broker runs from its image)", s.Name, s.Image)
		}
		return
	}
	if s.Build.Context != abs || s.Build.Dockerfile != "deploy/Containerfile" {
		t.Errorf("%s: build %s -f %s, want the repository root -f deploy/Containerfile", s.Name, s.Build.Context, s.Build.Dockerfile)
	}
	if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
		t.Error(err)
	}
	if s.Image == "" || strings.HasSuffix(s.Image, ":latest") {
		t.Errorf("%s: the built image needs a tag, got %q", s.Name, s.Image)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("%s: want read_only, cap_drop ALL, no-new-privileges", s.Name)
	}
}

// usage matches the first line of "tokenbroker COMMAND -h".
var usage = regexp.MustCompile(`usage: tokenbroker ([a-z -]+?)( [A-Z\[][A-Z_\[\]]*)? \[flags\]`)

// The command is one the CLI has, with flags it has: the real binary parses
// the whole command line, then -h. Never dev mode.
func checkCommand(t *testing.T, name string, cmd []string) {
	t.Helper()
	if len(cmd) == 0 {
		t.Errorf("%s: no command", name)
		return
	}
	if slices.Contains(cmd, "--dev") || slices.Contains(cmd, "-dev") {
		t.Errorf("%s: %q runs in dev mode", name, cmd)
	}
	var out bytes.Buffer
	c := exec.Command(bin, append(slices.Clone(cmd), "-h")...)
	c.Stdout, c.Stderr = &out, &out
	c.Env = []string{"TOKENBROKER_CONFIG="}
	c.Run()
	m := usage.FindStringSubmatch(out.String())
	if m == nil || !strings.HasPrefix(strings.Join(cmd, " "), m[1]) || strings.Contains(out.String(), "provided but not defined") {
		t.Errorf("%s: %q is not a command line the CLI takes:\n%s", name, cmd, out.String())
	}
}

// mountSource is the host path (bind) or volume mounted at target, and
// where under it path falls.
func mountFor(s types.ServiceConfig, path string) (types.ServiceVolumeConfig, string, bool) {
	var best types.ServiceVolumeConfig
	found := false
	for _, v := range s.Volumes {
		if (path == v.Target || strings.HasPrefix(path, v.Target+"/")) && len(v.Target) >= len(best.Target) {
			best, found = v, true
		}
	}
	return best, strings.TrimPrefix(strings.TrimPrefix(path, best.Target), "/"), found
}

// The configuration the service reads: TOKENBROKER_CONFIG, mounted from
// the repository, loaded strictly with the service's environment, on the
// profile's backend, every file it names on a mount, and — with the PKI
// pki.sh makes in place of /pki — a dry run of the broker's own
// "config check" (certificates and keys read and matched).
func checkConfig(t *testing.T, name string, s types.ServiceConfig, backend string) *config.Config {
	t.Helper()
	var environ []string
	keys := config.EnvKeys()
	for k, v := range s.Environment {
		if strings.HasPrefix(k, config.EnvPrefix) && k != "TOKENBROKER_CONFIG" {
			if _, ok := keys[k]; !ok {
				t.Errorf("%s: %s is not a configuration key", name, k)
			}
		}
		if v != nil {
			environ = append(environ, k+"="+*v)
		}
	}
	cfgPath := ""
	if v := s.Environment["TOKENBROKER_CONFIG"]; v != nil {
		cfgPath = *v
	}
	if cfgPath == "" {
		cfgPath = "/etc/tokenbroker/config.yaml" // the image's ENV
	}
	v, _, ok := mountFor(s, cfgPath)
	if !ok || v.Type != types.VolumeTypeBind || v.Target != cfgPath || !v.ReadOnly {
		t.Fatalf("%s: TOKENBROKER_CONFIG %s is not a read-only bind mount of a file", name, cfgPath)
	}
	fc, err := config.Load(v.Source, environ)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if fc.Backend.Type != backend || fc.SharedState.Type != "redis" {
		t.Errorf("%s: backend %q shared state %q, want %s on redis", name, fc.Backend.Type, fc.SharedState.Type, backend)
	}
	// Every file the configuration names is mounted; /pki is pki.sh's output.
	check := *fc
	vs := &vault.Settings{}
	if s, ok := check.Backend.Section(vault.Name).(*vault.Settings); ok && check.Backend.Type == vault.Name {
		vs = s
	}
	files := map[string]*string{
		"tls.cert_file": &check.TLS.CertFile, "tls.key_file": &check.TLS.KeyFile,
		"backend.vault.auth.secret_id_file": &vs.Auth.SecretIDFile,
		"shared_state.redis.password_file":  &check.SharedState.Redis.PasswordFile,
	}
	check.TLS.ClientCAFiles = slices.Clone(fc.TLS.ClientCAFiles)
	for i := range check.TLS.ClientCAFiles {
		files[fmt.Sprintf("tls.client_ca_files[%d]", i)] = &check.TLS.ClientCAFiles[i]
	}
	for key, p := range files {
		if *p == "" {
			continue
		}
		m, rel, ok := mountFor(s, *p)
		switch {
		case !ok:
			t.Errorf("%s: %s %s is on no mount", name, key, *p)
		case m.Type == types.VolumeTypeBind && strings.HasSuffix(m.Source, ".tokenbroker-compose"):
			*p = filepath.Join(pki, rel)
			if _, err := os.Stat(*p); err != nil {
				t.Errorf("%s: %s: pki.sh does not make %s", name, key, rel)
			}
		case m.Type == types.VolumeTypeVolume && key == "backend.vault.auth.secret_id_file":
			// vault-init writes it into the shared volume.
			checkVaultInit(t, m.Source, rel)
			*p = filepath.Join(t.TempDir(), "secret-id")
			os.WriteFile(*p, []byte("0f6c4a1e-5b1f-4c6e-9d55-1c2b3a4d5e6f\n"), 0o600)
		default:
			t.Errorf("%s: %s %s on %+v", name, key, *p, m)
		}
	}
	if err := brokerruntime.Check(&check); err != nil {
		t.Errorf("%s: config check of %s: %v", name, v.Source, err)
	}
	return fc
}

// vault-init mounts the volume and writes the secret-id the broker reads.
func checkVaultInit(t *testing.T, volume, rel string) {
	t.Helper()
	p := load(t, "vault")
	s, ok := p.Services["vault-init"]
	if !ok {
		t.Fatal("no vault-init")
	}
	m, _, _ := mountFor(s, "/approle/x")
	script := ""
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && len(s.Entrypoint) > 1 && s.Entrypoint[1] == v.Target {
			b, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			script = string(b)
		}
	}
	if m.Source != volume || m.ReadOnly || !strings.Contains(script, ">"+m.Target+"/"+rel) || !strings.Contains(script, "chown 65532:65532 "+m.Target+"/"+rel) {
		t.Errorf("vault-init does not write %s/%s for the broker's user (volume %s)", m.Target, rel, volume)
	}
}

// The broker publishes the ports its image exposes, the admin port on the
// host's loopback only, and relies on the image's HEALTHCHECK (which needs
// admin.listen).
func checkBrokerService(t *testing.T, cf *image.Containerfile, s types.ServiceConfig, fc *config.Config) {
	t.Helper()
	port := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	if fc.Admin.Listen == "" {
		t.Errorf("%s: no admin.listen: the image's HEALTHCHECK probes it", s.Name)
	}
	if s.HealthCheck != nil {
		t.Errorf("%s overrides the image's HEALTHCHECK", s.Name)
	}
	published := map[string]bool{}
	for _, p := range s.Ports {
		target := fmt.Sprint(p.Target)
		published[target] = true
		if _, ok := cf.Final.Config.ExposedPorts[target+"/tcp"]; !ok {
			t.Errorf("%s publishes %s, which the image does not EXPOSE", s.Name, target)
		}
		if target == port(fc.Admin.Listen) && p.HostIP != "127.0.0.1" {
			t.Errorf("%s publishes the admin port (plain HTTP) on %q, want 127.0.0.1", s.Name, p.HostIP)
		}
	}
	if !published[port(fc.Listen)] {
		t.Errorf("%s: listen %s is not published", s.Name, fc.Listen)
	}
}

// nginx forwards to the broker's alias and is the one address the broker
// trusts for the certificate header.
func checkNginx(t *testing.T, p *types.Project, broker types.ServiceConfig, fc *config.Config) {
	t.Helper()
	var ng *types.ServiceConfig
	for _, s := range p.Services {
		if strings.HasPrefix(s.Image, "nginx:") {
			ng = &s
		}
	}
	if ng == nil {
		t.Fatal("no nginx")
	}
	if d, ok := ng.DependsOn[broker.Name]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("%s does not wait for %s to be healthy", ng.Name, broker.Name)
	}
	addr, err := netip.ParseAddr(ng.Networks["default"].Ipv4Address)
	if err != nil {
		t.Fatal(err)
	}
	trusted := false
	for _, c := range fc.Proxy.TrustedProxies {
		pfx, err := netip.ParsePrefix(c)
		trusted = trusted || (err == nil && pfx.Contains(addr) && pfx.Bits() == 32)
	}
	if !trusted || fc.Proxy.Format != "nginx" {
		t.Errorf("proxy %+v: want format nginx and exactly nginx's %s trusted", fc.Proxy, addr)
	}
	conf := ""
	for _, v := range ng.Volumes {
		if v.Target == "/etc/nginx/nginx.conf" {
			b, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			conf = string(b)
		}
	}
	m := regexp.MustCompile(`proxy_pass https://([a-z0-9-]+):(\d+);`).FindStringSubmatch(conf)
	if m == nil || !slices.Contains(broker.Networks["default"].Aliases, m[1]) || m[2] != strings.TrimPrefix(fc.Listen, "0.0.0.0:") {
		t.Errorf("nginx.conf proxy_pass %v: want the broker's alias and listen port", m)
	}
	if !strings.Contains(conf, "proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;") {
		t.Error("nginx.conf does not set the certificate header on every request")
	}
	for _, f := range regexp.MustCompile(`/pki/([a-z.-]+)`).FindAllStringSubmatch(conf, -1) {
		if _, err := os.Stat(filepath.Join(pki, f[1])); err != nil {
			t.Errorf("nginx.conf names /pki/%s, which pki.sh does not make", f[1])
		}
	}
}

// pki.sh's certificates chain and name what the compose file uses: the
// server certificate covers localhost, broker and nginx; the client
// certificate carries the SPIFFE ID the mtls seeds register.
func TestComposePKI(t *testing.T) {
	pool := func(name string) *x509.CertPool {
		p := x509.NewCertPool()
		b, _ := os.ReadFile(filepath.Join(pki, name))
		if !p.AppendCertsFromPEM(b) {
			t.Fatalf("%s: no certificate", name)
		}
		return p
	}
	leaf := func(name string) *x509.Certificate {
		b, _ := os.ReadFile(filepath.Join(pki, name))
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", name)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srv := leaf("server.pem")
	for _, host := range []string{"localhost", "broker", "nginx", "127.0.0.1"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool("ca.pem"), DNSName: host}); err != nil {
			t.Errorf("server.pem for %s: %v", host, err)
		}
	}
	cl := leaf("client.pem")
	if _, err := cl.Verify(x509.VerifyOptions{Roots: pool("client-ca.pem"), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client.pem: %v", err)
	}
	p := load(t, "vault")
	seed := strings.Join(p.Services["seed-vault-mtls"].Command, " ")
	if len(cl.URIs) != 1 || !strings.Contains(seed, "--tls-san-uri "+cl.URIs[0].String()) {
		t.Errorf("client.pem URIs %v, seed %q", cl.URIs, seed)
	}
	// A second run keeps what is there (the broker's keys and clients stay valid).
	before, _ := os.ReadFile(filepath.Join(pki, "server.pem"))
	if out, err := exec.Command("sh", filepath.Join(repo, ".ci/compose/pki.sh"), pki).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if after, _ := os.ReadFile(filepath.Join(pki, "server.pem")); !bytes.Equal(before, after) {
		t.Error("a second pki.sh run replaced the certificates")
	}
}
