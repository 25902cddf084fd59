package jsonappend_test

import (
	"encoding/json"
	"testing"

	"github.com/tokenbroker/tokenbroker/internal/jsonappend"
)

// FuzzString: String writes what encoding/json writes, for any string.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", "i\"s\\s<>&", "\x00\u2028", "é", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonappend.String([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("String(%q) = %s, want %s", s, got[1:], want)
		}
	})
}
