package resource_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSDKLayering: the relying-party kit stays light and below the server
// (issue 12, item 2). The SDKs never import the broker; net/http users of
// the resource middleware do not pull in Echo (its adapter is
// echoresource); the access-token profile they share imports neither.
func TestSDKLayering(t *testing.T) {
	t.Parallel()
	const mod = "github.com/tokenbroker/tokenbroker/"
	broker, echo := mod+"broker", "github.com/labstack/"
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{mod + "authn/resource", []string{broker, echo}},
		{mod + "authn/resource/echoresource", []string{broker}},
		{mod + "authn/tokensource", []string{broker, echo}},
		{mod + "authn/accesstoken", []string{broker, echo}},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", tc.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tc.pkg, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 2 || deps[len(deps)-1] != tc.pkg {
				t.Fatalf("go list -deps %s: unexpected output %q", tc.pkg, out)
			}
			for _, d := range deps {
				for _, f := range tc.forbidden {
					if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
						t.Errorf("%s imports %s", tc.pkg, d)
					}
				}
			}
		})
	}
}
