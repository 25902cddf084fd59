package awskms

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// SigningSource is the name of the source in signing.Open.
const SigningSource = "aws-kms"

// Settings configure the source beyond signing.Options; the runtime maps
// the signing.aws_kms configuration keys to them.
type Settings struct {
	// Key is the signing key: an alias (alias/tokenbroker, required for
	// rotation), a key id or a key ARN.
	Key string
	// Keys are more keys (ids or ARNs) to publish in the JWKS, e.g. a key
	// an operator moved the alias away from by hand.
	Keys []string
	// Region (required unless the SDK's shared config names one) and
	// Endpoint (a local endpoint; default: the SDK's).
	Region, Endpoint string
	// Concurrency bounds the Sign calls in flight toward KMS (default 8).
	Concurrency int
	// MaxQueue bounds the signatures waiting for a slot (default 1024):
	// beyond it a request is refused at once.
	MaxQueue int
	// QueueWait is how long a signature may wait for a slot, or out a
	// throttling backoff, before it is refused (default 1s).
	QueueWait time.Duration
	// Timeout bounds each KMS call (default 2s).
	Timeout time.Duration
	// RefreshLag is how late a replica may see an alias move: the broker's
	// keys.refresh (default 30s). A new key signs only after the move +
	// PublishDelay + RefreshLag, so that a JWKS fetched from a replica
	// that had not re-read yet is stale before the new key signs.
	RefreshLag time.Duration
	// Limiter, when set, is the bound to use instead of one made from
	// Concurrency and MaxQueue: the process's, shared across reloads.
	Limiter *Limiter
	// AWS overrides the SDK configuration (tests); default: the SDK's
	// default credential chain.
	AWS *aws.Config
	// Now is the clock alias ages are judged by (tests; default time.Now);
	// queue waits and backoffs always use the real time.
	Now func() time.Time
}

// algSpec is how KMS signs one JWS algorithm.
type algSpec struct {
	kmsAlg   string   // the Sign SigningAlgorithm
	specs    []string // the key specs that can
	newSpec  string   // the spec of a key "keys rotate" creates
	ecdsaDER bool     // KMS answers DER that JWS needs as R‖S
}

// algSpecs: RFC 7518 §3.4 (ES256), §3.3 (RS256), §3.5 (PS256: KMS's PSS
// salt is as long as the hash, as §3.5 requires). KMS has no Ed25519 key
// JWS could publish here, so EdDSA is refused.
var algSpecs = map[string]algSpec{
	"ES256": {"ECDSA_SHA_256", []string{"ECC_NIST_P256"}, "ECC_NIST_P256", true},
	"RS256": {"RSASSA_PKCS1_V1_5_SHA_256", []string{"RSA_2048", "RSA_3072", "RSA_4096"}, "RSA_2048", false},
	"PS256": {"RSASSA_PSS_SHA_256", []string{"RSA_2048", "RSA_3072", "RSA_4096"}, "RSA_2048", false},
}

// Source is a signing.Manager over asymmetric KMS keys: the private keys
// never leave KMS. It publishes the alias target, the key the alias
// pointed to before (<alias>-previous) and Settings.Keys; see doc.go for
// the rotation rule.
type Source struct {
	c        *kms.Client
	set      Settings
	o        signing.Options
	alg      algSpec
	log      *slog.Logger
	obs      signing.Observer
	gate     *Limiter
	previous string // the alias that keeps the retired key; "" when Key is not an alias

	mu   sync.Mutex
	pubs map[string]keyPub // by key ARN: a key's public key never changes
}

var _ signing.Manager = (*Source)(nil)

type keyPub struct {
	kid, spec string
	key       crypto.PublicKey
}

func init() {
	signing.Register(SigningSource, func(ctx context.Context, _ backends.KeyStore, o signing.Options) (signing.Manager, error) {
		var set Settings
		switch s := o.Settings.(type) {
		case Settings:
			set = s
		case *Settings:
			set = *s
		default:
			return nil, errors.New("awskms: no settings (signing.aws_kms)")
		}
		return New(ctx, set, o)
	})
}

// New returns the source. It connects to nothing: Ensure makes the
// start-up check (the key, GetPublicKey and one Sign).
func New(ctx context.Context, set Settings, o signing.Options) (*Source, error) {
	a, ok := algSpecs[o.Alg]
	if !ok {
		return nil, fmt.Errorf("awskms: alg %q cannot be signed by KMS (want ES256, RS256 or PS256)", o.Alg)
	}
	if set.Key == "" {
		return nil, errors.New("awskms: no key")
	}
	if set.Concurrency <= 0 {
		set.Concurrency = 8
	}
	if set.MaxQueue <= 0 {
		set.MaxQueue = 1024
	}
	if set.QueueWait <= 0 {
		set.QueueWait = time.Second
	}
	if set.Timeout <= 0 {
		set.Timeout = 2 * time.Second
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.RefreshLag <= 0 {
		set.RefreshLag = 30 * time.Second
	}
	var ac aws.Config
	if set.AWS != nil {
		ac = set.AWS.Copy()
	} else {
		var opts []func(*awsconfig.LoadOptions) error
		if set.Region != "" {
			opts = append(opts, awsconfig.WithRegion(set.Region))
		}
		var err error
		if ac, err = awsconfig.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("awskms: %w", err)
		}
	}
	if set.Region != "" {
		ac.Region = set.Region
	}
	if ac.Region == "" {
		return nil, errors.New("awskms: no region configured")
	}
	// The management calls (DescribeKey, ListAliases, …) retry throttling
	// and 5xx with the SDK's backoff; Sign does not (see gate).
	ac.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 3; so.MaxBackoff = time.Second })
	}
	c := kms.NewFromConfig(ac, func(ko *kms.Options) {
		if set.Endpoint != "" {
			ko.BaseEndpoint = aws.String(set.Endpoint)
		}
	})
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	obs := o.Observer
	if obs == nil {
		obs = signing.NopObserver{}
	}
	s := &Source{c: c, set: set, o: o, alg: a, log: log, obs: obs, pubs: map[string]keyPub{},
		gate: set.Limiter}
	if s.gate == nil {
		s.gate = NewLimiter(set.Concurrency, set.MaxQueue)
	}
	if strings.HasPrefix(set.Key, "alias/") {
		s.previous = set.Key + "-previous"
	}
	return s, nil
}

// kidOf derives the JWS "kid" of a key from its ARN: "kms-" and 128 bits of
// its SHA-256, base64url. The JWKS reveals no account id, region or key id;
// whoever knows an ARN can recognise its kid, nobody can read one back.
func kidOf(arn string) string {
	h := sha256.Sum256([]byte(arn))
	return "kms-" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// callCtx bounds one KMS call by Settings.Timeout.
func (s *Source) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.set.Timeout)
}

// permissions name the IAM action each operation needs.
var permissions = map[string]string{
	"Sign": "kms:Sign", "GetPublicKey": "kms:GetPublicKey", "DescribeKey": "kms:DescribeKey", "ListAliases": "kms:ListAliases",
	"CreateKey": "kms:CreateKey", "CreateAlias": "kms:CreateAlias", "UpdateAlias": "kms:UpdateAlias",
}

// explain names the key and, for a refusal, the permission missing.
func explain(err error, op, key string) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException":
			return fmt.Errorf("awskms: key %s: %s denied: the broker's IAM policy needs %s on this key: %w", key, op, permissions[op], err)
		case "DisabledException":
			return fmt.Errorf("awskms: key %s is disabled (enable it, or point the alias at an enabled key): %w", key, err)
		case "KMSInvalidStateException":
			return fmt.Errorf("awskms: key %s cannot be used in its state (pending deletion or import?): %w", key, err)
		case "NotFoundException":
			return fmt.Errorf("awskms: key %s not found: %w", key, errors.Join(err, backends.ErrNotFound))
		}
	}
	return fmt.Errorf("awskms: %s %s: %w", op, key, err)
}

// code is the AWS error code of err ("" for another error).
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Close implements signing.Manager; safe to call twice.
func (s *Source) Close() error { return nil }
