package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// Docker cannot run here: check instead that docker-compose.yml refers only
// to things that exist — configuration keys, commands, paths — and pins its images.
func TestComposeFileRefersToWhatExists(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     string            `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   []string          `yaml:"depends_on"`
			Volumes     []string          `yaml:"volumes"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys := config.EnvKeys()
	for _, want := range []string{"localstack", "vault", "redis", "broker-awssm", "nginx", "seed-awssm", "seed-mtls"} {
		if _, ok := doc.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	for name, s := range doc.Services {
		if !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
		for k := range s.Environment {
			if strings.HasPrefix(k, config.EnvPrefix) {
				if _, ok := keys[k]; !ok {
					t.Errorf("%s: %s is not a configuration key", name, k)
				}
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./.ci/") {
				if _, err := os.Stat("../../" + strings.TrimPrefix(src, "./")); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			}
		}
		// The admin listener is plain HTTP (metrics, readiness): publish it on the host's loopback only.
		if a := s.Environment[config.EnvPrefix+"ADMIN_LISTEN"]; a != "" {
			_, port, _ := strings.Cut(a, ":")
			for _, p := range s.Ports {
				if strings.HasSuffix(p, ":"+port) && !strings.HasPrefix(p, "127.0.0.1:") {
					t.Errorf("%s publishes the admin port as %q, want 127.0.0.1:…", name, p)
				}
			}
		}
		for _, d := range s.DependsOn {
			if _, ok := doc.Services[d]; !ok {
				t.Errorf("%s depends on unknown service %s", name, d)
			}
		}
		if f := strings.Fields(s.Command); len(f) > 3 && f[0] == "go" && f[1] == "run" {
			if _, err := os.Stat("../../" + strings.TrimPrefix(f[2], "./")); err != nil {
				t.Errorf("%s: %s does not exist", name, f[2])
			}
			// The subcommand must be one the binary knows.
			if err := run(t.Context(), []string{f[3], "-h"}, &syncBuffer{}, &syncBuffer{}); err != nil && strings.Contains(err.Error(), "unknown command") {
				t.Errorf("%s: unknown subcommand %s", name, f[3])
			}
		}
	}
}

// The admin listener is plain HTTP: every timeout is set, and the write
// timeout leaves room for a default 30 s CPU profile.
func TestAdminServerTimeouts(t *testing.T) {
	s := runtime.NewAdminServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout, "WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout} {
		if d <= 0 {
			t.Errorf("%s not set", name)
		}
	}
	if s.WriteTimeout <= 30*time.Second {
		t.Errorf("WriteTimeout %s cuts a 30 s profile short", s.WriteTimeout)
	}
}
