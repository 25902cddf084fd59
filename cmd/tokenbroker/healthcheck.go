package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/config"
)

// exitError is an error that asks main for a particular exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the status main exits with for err: the one an exitError asks
// for, else 2.
func exitCode(err error) int {
	if xe := (*exitError)(nil); errors.As(err, &xe) {
		return xe.code
	}
	return 2
}

// unhealthy is how every healthcheck failure ends: Docker's HEALTHCHECK
// reads exit status 1 as "unhealthy" and reserves 2, which main uses for
// every other error.
func unhealthy(format string, a ...any) error {
	return &exitError{code: 1, err: fmt.Errorf("healthcheck: "+format, a...)}
}

// maxHealthBody bounds what the probe reads of an answer: /readyz says
// "ready" or one short reason.
const maxHealthBody = 1 << 10

// healthcheckCommand probes the admin listener's /readyz (or /healthz with
// --live), for container runtimes whose health check is a command (a
// scratch image has no curl). Exit status: 0 ready, 1 not.
func healthcheckCommand(fs *flag.FlagSet) runFunc {
	cfgPath := fs.String("config", os.Getenv("TOKENBROKER_CONFIG"), "configuration `FILE` whose admin.listen is probed (default $TOKENBROKER_CONFIG)")
	rawURL := fs.String("url", "", "probe this http `URL` instead of /readyz on admin.listen")
	live := fs.Bool("live", false, "probe /healthz (the process answers) instead of /readyz (it can serve)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after `D`")
	return func(ctx context.Context, e env, _ []string) error {
		path := "/readyz"
		if *live {
			path = "/healthz"
		}
		u, err := healthURL(*rawURL, *cfgPath, path, os.Environ())
		if err != nil {
			return unhealthy("%w", err)
		}
		if *timeout <= 0 {
			return unhealthy("--timeout must be positive")
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		status, body, err := probe(ctx, u)
		if err != nil {
			return unhealthy("%s: %w", u, err)
		}
		if status != http.StatusOK {
			return unhealthy("%s: %d %s", u, status, body)
		}
		fmt.Fprintln(e.stdout, body)
		return nil
	}
}

// healthURL is the URL to probe: --url as given, else path on the
// configuration's admin.listen, a wildcard host probed on loopback.
func healthURL(rawURL, cfgPath, path string, environ []string) (string, error) {
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
			// The admin listener is plain HTTP (broker/runtime.NewAdminServer):
			// there is nothing to verify a TLS certificate of.
			return "", fmt.Errorf("--url %q: want http://HOST:PORT/PATH (the admin listener is plain HTTP)", rawURL)
		}
		return u.String(), nil
	}
	fc, err := config.Load(cfgPath, environ)
	if err != nil {
		return "", err
	}
	if fc.Admin.Listen == "" {
		return "", errors.New("no admin listener to probe: set admin.listen (or TOKENBROKER_ADMIN_LISTEN), or --url")
	}
	host, port, err := net.SplitHostPort(fc.Admin.Listen)
	if err != nil {
		return "", config.Errorf("admin.listen", "%w", err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: path}).String(), nil
}

// probe GETs u once: no redirect followed, no proxy, no connection kept.
func probe(ctx context.Context, u string) (status int, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	c := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true, MaxResponseHeaderBytes: 16 << 10},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return 0, "", err
	}
	// Printed to a terminal or a container log: printable text only, one line.
	text := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	return resp.StatusCode, strings.TrimSpace(text), nil
}
