package runtime

import (
	"io"
	"log/slog"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// The bound toward KMS is the process's: every source opened with the same
// concurrency and max_queue (each reload opens one) shares it; new bounds
// make a new one; other sources are left alone.
func TestKMSLimiterOutlivesReloads(t *testing.T) {
	t.Parallel()
	p := &process{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(c, q int) *awskms.Limiter {
		o := signing.Options{Source: awskms.SigningSource, Settings: awskms.Settings{Key: "alias/tb", Concurrency: c, MaxQueue: q}}
		p.shareKMSLimiter(&o, log)
		return o.Settings.(awskms.Settings).Limiter
	}
	first := open(0, 0)
	if first == nil || open(8, 1024) != first || open(0, 0) != first {
		t.Fatal("a reload with the same bounds got a new limiter")
	}
	if open(4, 0) == first {
		t.Fatal("new bounds kept the old limiter")
	}
	local := signing.Options{Source: signing.LocalSource}
	p.shareKMSLimiter(&local, log)
	if local.Settings != nil {
		t.Fatal("a local source got KMS settings")
	}
}
