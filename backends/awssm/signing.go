package awssm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// StagedKeys is a signing.Manager driven by version stages of the
// secret <prefix>/signing-key, one key per version: AWSCURRENT signs,
// AWSPENDING is published in the JWKS before it is promoted, and AWSPREVIOUS
// stays published (it is replaced only at the next rotation, which waits at
// least the token lifetime after a promotion).
type StagedKeys struct {
	s            *Store
	alg          string
	publishDelay time.Duration
	maxLifetime  time.Duration
}

var _ signing.Manager = (*StagedKeys)(nil)

// SigningSource is the name of the source in signing.Open.
const SigningSource = "aws-version-stages"

func init() {
	signing.Register(SigningSource, func(_ context.Context, store backends.KeyStore, o signing.Options) (signing.Manager, error) {
		s, ok := store.(*Store)
		if !ok {
			return nil, errors.New("needs the awssm backend")
		}
		return s.StagedKeys(o.Alg, o.PublishDelay, o.MaxLifetime), nil
	})
}

// StagedKeys returns the signing source; alg is used for new keys.
func (s *Store) StagedKeys(alg string, publishDelay, maxLifetime time.Duration) *StagedKeys {
	return &StagedKeys{s: s, alg: alg, publishDelay: publishDelay, maxLifetime: maxLifetime}
}

func (k *StagedKeys) name() string { return k.s.cfg.Prefix + "/signing-key" }

func (k *StagedKeys) read(ctx context.Context, stage string) (*backends.SigningKey, *versioned, error) {
	v, err := k.s.getStage(ctx, k.name(), stage)
	if err != nil {
		return nil, nil, err
	}
	var sk backends.SigningKey
	if err := json.Unmarshal([]byte(v.value), &sk); err != nil {
		return nil, nil, fmt.Errorf("awssm: %s (%s): %w", k.name(), stage, err)
	}
	return &sk, v, nil
}

// SigningSet implements signing.Source.
func (k *StagedKeys) SigningSet(ctx context.Context) (*signing.Set, error) {
	set := &signing.Set{}
	for _, stage := range []string{"AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"} {
		sk, _, err := k.read(ctx, stage)
		if errors.Is(err, backends.ErrNotFound) && stage != "AWSCURRENT" {
			continue
		}
		if err != nil {
			return nil, err
		}
		signer, pub, err := signing.ParseSigningKey(*sk)
		if err != nil {
			return nil, err
		}
		if stage == "AWSCURRENT" {
			set.Active = signer
		}
		set.Published = append(set.Published, signing.PublicKey{KID: sk.KID, Alg: sk.Alg, Key: pub})
	}
	return set, nil
}

// Ensure creates the secret with a current and a pending key when it does not exist.
func (k *StagedKeys) Ensure(ctx context.Context) (bool, error) {
	if _, _, err := k.read(ctx, "AWSCURRENT"); !errors.Is(err, backends.ErrNotFound) {
		return false, err
	}
	cur, err := signing.NewSigningKey(k.alg, time.Now())
	if err != nil {
		return false, err
	}
	if err := k.s.write(ctx, k.name(), cur, ""); err != nil {
		return false, err
	}
	return true, k.stagePending(ctx)
}

func (k *StagedKeys) stagePending(ctx context.Context) error {
	next, err := signing.NewSigningKey(k.alg, time.Now())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(next)
	cctx, cancel := k.s.ctx(ctx)
	defer cancel()
	_, err = k.s.c.PutSecretValue(cctx, &sm.PutSecretValueInput{SecretId: aws.String(k.name()), SecretString: aws.String(string(b)), VersionStages: []string{"AWSPENDING"}})
	return classify(err, k.name())
}

// Rotate promotes AWSPENDING to AWSCURRENT (Secrets Manager moves AWSPREVIOUS
// to the old current key) and stages a new pending key. It returns
// signing.ErrTooSoon, unless force is set, when the pending key has not been
// published long enough or the current key was promoted less than a token
// lifetime ago.
func (k *StagedKeys) Rotate(ctx context.Context, force bool) error {
	_, pv, err := k.read(ctx, "AWSPENDING")
	if errors.Is(err, backends.ErrNotFound) {
		return k.stagePending(ctx)
	}
	if err != nil {
		return err
	}
	_, cv, err := k.read(ctx, "AWSCURRENT")
	if err != nil {
		return err
	}
	// The pending key is staged right after each promotion, so its age is both
	// how long it has been published and how long the current key has signed.
	// It must cover the JWKS cache lifetime (publish before use), and the
	// token lifetime: the key that becomes AWSPREVIOUS now pushes the old
	// previous out of the JWKS, whose tokens must all have expired.
	need := max(k.publishDelay, k.maxLifetime+time.Minute)
	if age := time.Since(pv.created); age < need && !force {
		return fmt.Errorf("%w: pending key published %s ago, needs %s", signing.ErrTooSoon, age.Round(time.Second), need)
	}
	cctx, cancel := k.s.ctx(ctx)
	defer cancel()
	if _, err := k.s.c.UpdateSecretVersionStage(cctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(k.name()), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(pv.id), RemoveFromVersionId: aws.String(cv.id)}); err != nil {
		return classify(err, k.name())
	}
	if _, err := k.s.c.UpdateSecretVersionStage(cctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(k.name()), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(pv.id)}); err != nil {
		return classify(err, k.name())
	}
	return k.stagePending(ctx)
}

// stageStates are the version stages, oldest first, and the key state each stands for.
var stageStates = []struct{ stage, state string }{
	{"AWSPREVIOUS", backends.KeyRetired}, {"AWSCURRENT", backends.KeyActive}, {"AWSPENDING", backends.KeyNext},
}

// List describes the keys of the three stages, oldest first.
func (k *StagedKeys) List(ctx context.Context) ([]signing.KeyInfo, error) {
	var out []signing.KeyInfo
	for _, st := range stageStates {
		sk, _, err := k.read(ctx, st.stage)
		if errors.Is(err, backends.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, signing.KeyInfo{KID: sk.KID, Alg: sk.Alg, State: st.state, Version: st.stage, Created: sk.CreatedAt})
	}
	return out, nil
}

// Close implements signing.Manager; the Store is the caller's.
func (k *StagedKeys) Close() error { return nil }
