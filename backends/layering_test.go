package backends

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayering: layers only point down (DESIGN.md) — no package under
// backends/ imports authn, broker or cmd (the ES256 primitive is
// internal/es256). Integration tests may drive the broker.
func TestLayering(t *testing.T) {
	const module = "github.com/tokenbroker/tokenbroker/"
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			return err
		}
		p, err := build.ImportDir(dir, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		for _, imp := range p.Imports {
			for _, up := range []string{"authn", "broker", "cmd"} {
				if imp == module+up || strings.HasPrefix(imp, module+up+"/") {
					t.Errorf("backends/%s imports %s", dir, imp)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
