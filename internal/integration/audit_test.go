package integration_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// Attacker-supplied values reach the audit trail only truncated: every field
// at most 256 bytes and marked, no line over 8 KiB — even when JSON escaping
// makes each byte six ("<" → \u003c). Before: a 60 KB parameter name wrote a
// 360 KB line.
func TestAuditLinesBounded(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withAudit(&trail))
	secret := e.client(&backends.Client{ClientID: "bounded", Scope: "read"})
	huge := strings.Repeat("<", 60000) // raw in the body: within its 64 KiB
	half := huge[:30000]
	enc := huge[:20000] // URL-encoded: 60 KB
	for _, tc := range []struct {
		name   string
		body   string
		header http.Header
		status int
		clip   bool // the reason echoes the input
	}{
		{"huge parameter name", huge + "=%FF", nil, http.StatusBadRequest, true},
		{"huge repeated parameter", half + "=a&" + half + "=b", nil, http.StatusBadRequest, true},
		{"huge scope", url.Values{"grant_type": {"client_credentials"}, "scope": {enc}}.Encode(), basic("bounded", secret), http.StatusBadRequest, false},
		{"huge client_id", url.Values{"grant_type": {"client_credentials"}, "client_id": {enc}, "client_secret": {"x"}}.Encode(), nil, http.StatusUnauthorized, false},
		{"huge resource", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://" + enc}}.Encode(), basic("bounded", secret), http.StatusBadRequest, false},
		{"long Basic user", "grant_type=client_credentials", basic(strings.Repeat("<", 900), "x"), http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(trail.String())
			req, _ := http.NewRequest(http.MethodPost, e.issuer+broker.PathToken, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Request-Id", strings.Repeat("a", 5000))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, b := e.do(req)
			if resp.StatusCode != tc.status || b["access_token"] != nil {
				t.Fatalf("%d %v, want %d", resp.StatusCode, b["error"], tc.status)
			}
			line := strings.TrimSuffix(trail.String()[before:], "\n")
			if strings.Count(line, "\n") != 0 {
				t.Fatalf("want one audit line, got %d", strings.Count(line, "\n")+1)
			}
			if len(line)+1 > audit.MaxLine {
				t.Fatalf("audit line of %d bytes, want at most %d", len(line)+1, audit.MaxLine)
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			for k, v := range ev {
				if s, ok := v.(string); ok && len(s) > audit.MaxField {
					t.Errorf("field %s has %d bytes", k, len(s))
				}
			}
			if tc.clip && (ev["truncated"] != true || !strings.Contains(line, "…")) {
				t.Errorf("a truncated line is not marked: %.300s", line)
			}
		})
	}
	if n, broken, err := audit.VerifyChain(strings.NewReader(trail.String()), "", nil); broken != 0 || err != nil {
		t.Fatalf("chain of %d lines broken at %d: %v", n, broken, err)
	}
}

// failingWriter is an audit destination that has stopped accepting writes
// (a full disk, a revoked mount).
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// The documented policy for an audit line that cannot be written: fail
// closed refuses the token (503 temporarily_unavailable, no token); the
// default issues it, logs and counts the failure.
func TestAuditWriteFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failClosed bool
		status     int
	}{
		{"fail closed", true, http.StatusServiceUnavailable},
		{"fail open (default)", false, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config, _ *cache.Options) {
				c.Audit, c.AuditFailClosed = audit.New(failingWriter{}, true, ""), tc.failClosed
			})
			secret := e.client(&backends.Client{ClientID: "fw", Scope: "read"})
			r, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("fw", secret))
			if r.StatusCode != tc.status {
				t.Fatalf("%d %v, want %d", r.StatusCode, b, tc.status)
			}
			if tc.failClosed && (b["error"] != "temporarily_unavailable" || b["access_token"] != nil) {
				t.Fatalf("fail closed answered %v", b)
			}
			if !tc.failClosed && b["access_token"] == nil {
				t.Fatalf("fail open gave no token: %v", b)
			}
			if !strings.Contains(e.logs.String(), "audit trail write failed") {
				t.Error("the failure is not logged")
			}
			rec := httptest.NewRecorder()
			e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if !strings.Contains(rec.Body.String(), "tokenbroker_audit_write_failures_total ") || strings.Contains(rec.Body.String(), "tokenbroker_audit_write_failures_total 0") {
				t.Error("the failure is not counted in tokenbroker_audit_write_failures_total")
			}
		})
	}
}
