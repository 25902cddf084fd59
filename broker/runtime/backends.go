package runtime

import (
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/internal/config"

	// The backends this binary holds: each registers itself (and its
	// signing sources) from init. A new backend is one more line here.
	_ "github.com/tokenbroker/tokenbroker/backends/awssm"
	_ "github.com/tokenbroker/tokenbroker/backends/file"
	_ "github.com/tokenbroker/tokenbroker/backends/vault"
)

// Each registered backend's settings become a section of the
// configuration (backend.NAME), its keys named after their fields.
func init() {
	for _, name := range backends.Kinds() {
		kind, _ := backends.Lookup(name)
		config.RegisterBackend(name, kind.NewSettings)
	}
}
