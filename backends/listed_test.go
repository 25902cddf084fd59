package backends_test

import (
	"slices"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
)

func TestListedClientIDs(t *testing.T) {
	t.Parallel()
	got := backends.ListedClientIDs([]string{"b", "..", "a~1", "", "c d", "a"})
	if want := []string{"a", "a~1", "b"}; !slices.Equal(got, want) {
		t.Errorf("ListedClientIDs = %q, want %q", got, want)
	}
	if got := backends.ListedClientIDs([]string{"x/y"}); got != nil {
		t.Errorf("no valid id: %q, want nil", got)
	}
}
