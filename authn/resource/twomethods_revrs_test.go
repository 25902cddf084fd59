package resource_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/resource"
)

// RFC 6750 §2: a client must not send the token by more than one method,
// and §3.1 names that request invalid_request. The middleware reads only
// the Authorization header; a second token in the query (§2.3) beside it
// is refused rather than ignored — otherwise the handler behind it sees,
// and may act on or log, a token nobody verified.
func TestRevrsTokenInHeaderAndQuery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.startAPI(w.verifier())
	p := newProver(t)
	tok := w.mint(p.JKT(), "")
	read := w.api + "/read"
	for _, tc := range []struct{ name, query string }{
		{"the same token", "access_token=" + url.QueryEscape(tok)},
		{"another token", "access_token=other"},
		{"an empty one", "x=1&access_token="},
	} {
		resp := w.send("GET", read+"?"+tc.query, "DPoP "+tok, proof(t, p, "GET", read, tok, ""))
		if resp.StatusCode != 400 {
			t.Errorf("DPoP header and %s in the query: %d, want 400", tc.name, resp.StatusCode)
		}
		challenge(t, tc.name, resp, 400, "DPoP", "invalid_request")
	}
	resp := w.send("GET", read+"?access_token=other", "Bearer "+w.mint("", ""))
	challenge(t, "bearer", resp, 400, "Bearer", "invalid_request")
	// A query token alone is no credentials (the middleware reads none there): a bare challenge.
	resp = w.send("GET", read+"?access_token="+url.QueryEscape(tok), "")
	challenge(t, "query only", resp, 401, "Bearer", "")
}

// FuzzQueryToken: whatever the query beside a valid bearer token, the
// middleware never fails with a 5xx, and never lets a request through whose
// query names access_token (plain or percent-encoded).
func FuzzQueryToken(f *testing.F) {
	w := newWorld(f)
	v := w.verifier()
	tok := w.mint("", "")
	h := v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(299) }))
	for _, s := range []string{"", "a=1", "access_token=x", "%61ccess_token=", "a=1&access_token", "access%5Ftoken=%zz", "access+token=1", ";access_token=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "/read", nil)
		req.URL.RawQuery = raw
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, raw)
		}
		for _, part := range strings.Split(raw, "&") {
			k, _, _ := strings.Cut(part, "=")
			if u, err := url.QueryUnescape(k); (k == "access_token" || err == nil && u == "access_token") && rec.Code == 299 {
				t.Fatalf("query %q names access_token and went through", raw)
			}
		}
	})
}
