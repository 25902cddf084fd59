package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	vapi "github.com/hashicorp/vault/api"
)

// need is one capability check: the capabilities caps on path, reported as
// shown (a glob the operator writes in the policy) and why they are needed.
type need struct {
	path, shown string
	caps        []string
	why         string
}

// sampleID stands for any client id when asking Vault what the policy
// grants on a client's paths (policies grant them with a glob).
const sampleID = "capability-check"

// kvNeeds lists what the broker does on the KV mount.
func (s *Store) kvNeeds() []need {
	data := func(p ...string) string { return s.cfg.Mount + "/data/" + s.dataPath(p...) }
	meta := func(p ...string) string { return s.cfg.Mount + "/metadata/" + s.dataPath(p...) }
	rw := []string{"read"}
	if !s.cfg.ReadOnly {
		rw = []string{"create", "read", "update"}
	}
	n := []need{
		{"sys/internal/ui/mounts/" + s.cfg.Mount, "", []string{"read"}, "check the mount is KV version 2"},
		{data("clients", sampleID), data("clients", "*"), rw, "client records"},
		{data("secrets", sampleID), data("secrets", "*"), rw, "client secrets"},
		{data("signing-keys"), "", rw, "the signing key set"},
		{meta("clients") + "/", meta("clients", "*"), []string{"list"}, "list clients"},
	}
	if !s.cfg.ReadOnly {
		n = append(n,
			need{meta("clients", sampleID), meta("clients", "*"), []string{"read", "delete"}, "check-and-set writes and client deletion"},
			need{meta("secrets", sampleID), meta("secrets", "*"), []string{"read", "delete"}, "check-and-set writes and client deletion"},
			need{meta("signing-keys"), "", []string{"read"}, "check-and-set writes of the key set"},
		)
	}
	return n
}

// checkCapabilities asks Vault (sys/capabilities-self) what the broker's
// token may do on each path it uses, so that a policy that is too narrow
// fails start-up with the path and the capability, not the first token
// request.
func (s *Store) checkCapabilities(ctx context.Context, needs []need) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	paths := make([]string, len(needs))
	for i, n := range needs {
		paths[i] = n.path
	}
	sec, err := s.client.Logical().WriteWithContext(ctx, "sys/capabilities-self", map[string]any{"paths": paths})
	if err != nil {
		var re *vapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			return fmt.Errorf("vault: permission denied on sys/capabilities-self: the broker's policy needs \"update\" on that path (Vault's default policy grants it) to check its other capabilities at start: %w", err)
		}
		return s.explain(err, "sys/capabilities-self", "update")
	}
	if sec == nil || sec.Data == nil {
		return errors.New("vault: sys/capabilities-self returned nothing")
	}
	var missing []string
	for _, n := range needs {
		raw, _ := sec.Data[n.path].([]any)
		var has []string
		for _, c := range raw {
			if c, ok := c.(string); ok {
				has = append(has, c)
			}
		}
		if slices.Contains(has, "root") {
			continue
		}
		for _, c := range n.caps {
			if !slices.Contains(has, c) || slices.Contains(has, "deny") {
				shown := n.shown
				if shown == "" {
					shown = n.path
				}
				missing = append(missing, fmt.Sprintf("%q on %s (%s)", c, shown, n.why))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("vault: permission denied: the broker's policy needs %s", strings.Join(missing, ", "))
	}
	return nil
}
