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
		name, path string
		max        int64
		want       string // the body, or a part of the error
	}{
		{"a body of max bytes", "/ok", 8, "12345678"},
		{"one byte over", "/ok", 7, "larger than 7 bytes"},
		{"a huge body", "/big", 16, "larger than 16 bytes"},
		{"not 200", "/none", 8, "answered 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := httpget.Get(context.Background(), srv.Client(), srv.URL+tc.path, tc.max)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%v, want %q", err, tc.want)
				}
				return
			}
			if string(b) != tc.want {
				t.Errorf("%q, want %q", b, tc.want)
			}
		})
	}
	if _, err := httpget.Get(context.Background(), http.DefaultClient, srv.URL+"/ok", 8); err == nil {
		t.Error("a client that does not trust the server's certificate got the body")
	}
}
