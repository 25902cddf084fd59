package runtime

import (
	"log/slog"

	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// shareKMSLimiter gives an aws-kms source the process's bound toward KMS:
// the Sign calls in flight, the queue and a throttling backoff belong to
// the process, so a reload neither doubles the bound (old and new
// instance side by side) nor forgets that KMS is throttling. A reload that
// changes signing.aws_kms.concurrency or max_queue starts a new bound.
func (p *process) shareKMSLimiter(o *signing.Options, log *slog.Logger) {
	set, ok := o.Settings.(awskms.Settings)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.kms.Fits(set.Concurrency, set.MaxQueue) {
		if p.kms != nil {
			log.Info("signing.aws_kms: new concurrency or max_queue; a new bound toward KMS")
		}
		p.kms = awskms.NewLimiter(set.Concurrency, set.MaxQueue)
	}
	set.Limiter = p.kms
	o.Settings = set
}
