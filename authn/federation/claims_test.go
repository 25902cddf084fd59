package federation_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/federation"
)

func TestParseClaimsStrict(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, federation.MaxClaimsDepth+1) + `1` + strings.Repeat(`}`, federation.MaxClaimsDepth+1)
	for name, doc := range map[string]string{
		"duplicate":         `{"sub":"a","sub":"b"}`,
		"case variant":      `{"sub":"a","SUB":"b"}`,
		"nested duplicate":  `{"kubernetes.io":{"namespace":"a","Namespace":"b"}}`,
		"escaped duplicate": `{"sub":"a","s\u0075b":"b"}`,
		"long s fold":       `{"sub":"a","ſub":"b"}`,
		"too deep":          deep,
		"not an object":     `["sub"]`,
		"trailing":          `{"sub":"a"} x`,
		"not UTF-8":         "{\"sub\":\"\xff\"}",
		"too many members":  `{"a":[` + strings.Repeat(`1,`, federation.MaxClaimsMembers) + `1]}`,
		"malformed":         `{"sub":}`,
	} {
		if _, err := federation.ParseClaims([]byte(doc)); err == nil {
			t.Errorf("%s: ParseClaims accepted %.80s", name, doc)
		}
	}
	c, err := federation.ParseClaims([]byte(`{"iss":"https://k","sub":"system:serviceaccount:ns:sa","aud":["x","y"],"exp":1700000000,
		"kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"sa"}},"n":5,"flag":true}`))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"sub":                               "system:serviceaccount:ns:sa",
		"kubernetes.io.serviceaccount.name": "sa",
	} {
		if got, ok := c.Lookup(path); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"kubernetes.io.namespace.x", "n", "flag", "kubernetes.io", "missing", "sub.", "kubernetes.io."} {
		if got, ok := c.Lookup(path); ok {
			t.Errorf("Lookup(%q) = %q, want nothing", path, got)
		}
	}
	if aud, ok := c.Audience(); !ok || len(aud) != 2 {
		t.Errorf("Audience = %v %v", aud, ok)
	}
	if exp, ok := c.NumericDate("exp"); !ok || exp != 1700000000 {
		t.Errorf("exp = %v %v", exp, ok)
	}
}

func TestLookupAmbiguousPrefix(t *testing.T) {
	t.Parallel()
	c, err := federation.ParseClaims([]byte(`{"kubernetes.io":{"namespace":"real"},"kubernetes":{"io":{"namespace":"forged"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Lookup("kubernetes.io.namespace"); ok {
		t.Fatalf("an ambiguous path resolved to %q", got)
	}
}

// FuzzParseClaims: whatever is accepted is a JSON object that encoding/json
// reads too, and every path resolves to at most one string.
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{`{"sub":"a","kubernetes.io":{"namespace":"n"}}`, `{"a":{"b":{"c":"d"}},"a.b":{"c":"e"}}`, `{"sub":"a","SUB":"b"}`, `{"aud":["x",1]}`} {
		f.Add([]byte(s), "kubernetes.io.namespace")
	}
	f.Fuzz(func(t *testing.T, b []byte, path string) {
		c, err := federation.ParseClaims(b)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		v1, ok1 := c.Lookup(path)
		v2, ok2 := c.Lookup(path)
		if ok1 != ok2 || v1 != v2 {
			t.Fatal("Lookup is not deterministic")
		}
		_, _ = c.Audience()
		_, _ = c.NumericDate("exp")
	})
}
