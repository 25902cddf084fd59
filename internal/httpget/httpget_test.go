package httpget_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/internal/httpget"
)

func TestGet(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("12345678"))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 1<<20)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		max  int64
		want string // the body, or a part of the error
	}{
		{"/ok", 8, "12345678"},
		{"/ok", 7, "larger than 7 bytes"},
		{"/big", 16, "larger than 16 bytes"},
		{"/none", 8, "answered 404 Not Found"},
	} {
		b, err := httpget.Get(context.Background(), srv.Client(), srv.URL+tc.path, tc.max)
		if err != nil {
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s max %d: %v, want %q", tc.path, tc.max, err, tc.want)
			}
			continue
		}
		if string(b) != tc.want {
			t.Errorf("%s max %d: %q, want %q", tc.path, tc.max, b, tc.want)
		}
	}
	if _, err := httpget.Get(context.Background(), http.DefaultClient, srv.URL+"/ok", 8); err == nil {
		t.Error("a client that does not trust the server's certificate got the body")
	}
}
