package config_test

import (
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/config"
)

// signing.aws_kms is checked only for signing.type aws-kms, and each error
// names its key.
func TestValidateAWSKMS(t *testing.T) {
	t.Parallel()
	base := func() *config.Config {
		c := &config.Config{Issuer: "https://a.example"}
		c.TLS.CertFile, c.TLS.KeyFile = "/nonexistent/s.pem", "/nonexistent/k.pem"
		return c
	}
	c := base()
	c.Signing.AWSKMS.Concurrency = -1 // ignored: another signing type
	if err := c.Validate(); err != nil {
		t.Fatalf("aws_kms checked for signing.type local: %v", err)
	}
	c = base()
	c.Signing.Type = "aws-kms"
	c.Signing.AWSKMS.Key = "alias/tokenbroker"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Signing.AWSKMS = config.AWSKMS{Key: "", Concurrency: 5000, MaxQueue: -1, QueueWait: config.Duration(time.Hour), Timeout: -1, Endpoint: "kms.local"}
	keys := config.Keys(c.Validate())
	for _, k := range []string{"signing.aws_kms.key", "signing.aws_kms.concurrency", "signing.aws_kms.max_queue", "signing.aws_kms.queue_wait", "signing.aws_kms.timeout", "signing.aws_kms.endpoint"} {
		if !keys[k] {
			t.Errorf("no error for %s: %v", k, keys)
		}
	}
	c.Signing.AWSKMS = config.AWSKMS{Key: "alias/aws/ebs"}
	c.Tokens.SigningAlg = "EdDSA"
	if keys := config.Keys(c.Validate()); !keys["signing.aws_kms.key"] || !keys["tokens.signing_alg"] {
		t.Errorf("an AWS managed alias or EdDSA accepted: %v", keys)
	}
}
