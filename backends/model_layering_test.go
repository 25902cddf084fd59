package backends

import (
	"go/build"
	"strings"
	"testing"
)

// TestModelImportsNoCrypto: the model (this package) holds data and
// interfaces; signing code — internal/es256, go-jose — lives in
// backends/signing (docs/architecture.md: the model imports no crypto).
func TestModelImportsNoCrypto(t *testing.T) {
	t.Parallel()
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "github.com/tokenbroker/tokenbroker/") || strings.HasPrefix(imp, "github.com/go-jose/") {
			t.Errorf("backends imports %s", imp)
		}
	}
}
