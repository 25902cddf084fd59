package awskms

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// keyState is one key the source knows of, with its role now.
type keyState struct {
	arn, state      string // state: next, active, retired, published, unpublished
	created         time.Time
	activated, gone *time.Time // when it signs / stopped signing
}

// view is what the aliases say now: the keys, oldest role first.
type view struct {
	active string // ARN
	keys   []keyState
}

// describe resolves id (alias, key id or ARN) to its key; ErrNotFound wrapped when it does not exist.
func (s *Source) describe(ctx context.Context, id string) (*types.KeyMetadata, error) {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	out, err := s.c.DescribeKey(cctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return nil, explain(err, "DescribeKey", id)
	}
	return out.KeyMetadata, nil
}

// aliasUpdated is when alias (which targets keyID) last moved.
func (s *Source) aliasUpdated(ctx context.Context, alias, keyID string) (time.Time, error) {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	p := kms.NewListAliasesPaginator(s.c, &kms.ListAliasesInput{KeyId: aws.String(keyID), Limit: aws.Int32(100)})
	for pages := 0; p.HasMorePages() && pages < 10; pages++ { // a key has few aliases
		out, err := p.NextPage(cctx)
		if err != nil {
			return time.Time{}, explain(err, "ListAliases", alias)
		}
		for _, a := range out.Aliases {
			if aws.ToString(a.AliasName) == alias {
				if a.LastUpdatedDate != nil {
					return *a.LastUpdatedDate, nil
				}
				return aws.ToTime(a.CreationDate), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("awskms: alias %s not listed for key %s", alias, keyID)
}

// current reads the aliases and decides the roles (publish before use,
// RFC 7517 §5 consumers cache the JWKS for keys.jwks_max_age):
//
//   - the first key behind the alias signs at once;
//   - after the alias moved at U, the key it left (<alias>-previous) keeps
//     signing until U + PublishDelay + RefreshLag while the new target is published
//     ("next"); then the target signs and the previous key stays published
//     until the tokens it signed have expired (+ MaxLifetime + a minute);
//   - Settings.Keys are published as they are.
func (s *Source) current(ctx context.Context) (*view, error) {
	now := s.set.Now()
	md, err := s.describe(ctx, s.set.Key)
	if err != nil {
		return nil, err
	}
	primary := keyState{arn: aws.ToString(md.Arn), created: aws.ToTime(md.CreationDate)}
	v := &view{}
	var prev *types.KeyMetadata
	var moved time.Time
	if s.previous != "" {
		if prev, err = s.describe(ctx, s.previous); errors.Is(err, backends.ErrNotFound) {
			prev, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		if prev != nil && aws.ToString(prev.Arn) == primary.arn {
			prev = nil // a rotation stopped half-way: nothing to keep
		}
		if prev != nil {
			if moved, err = s.aliasUpdated(ctx, s.set.Key, aws.ToString(md.KeyId)); err != nil {
				return nil, err
			}
		}
	}
	if prev == nil {
		primary.state, primary.activated = backends.KeyActive, &primary.created
		v.active, v.keys = primary.arn, []keyState{primary}
	} else {
		// Publish before use (RFC 7517 §5 consumers cache the JWKS for
		// jwks_max_age): a replica may serve the old JWKS up to RefreshLag
		// after the move, and that copy stays fresh jwks_max_age longer.
		switchAt := moved.Add(s.o.PublishDelay + s.set.RefreshLag)
		old := keyState{arn: aws.ToString(prev.Arn), created: aws.ToTime(prev.CreationDate), gone: &switchAt}
		primary.activated = &switchAt
		if now.Before(switchAt) {
			old.state, primary.state, v.active = backends.KeyActive, backends.KeyNext, old.arn
		} else {
			old.state, primary.state, v.active = backends.KeyRetired, backends.KeyActive, primary.arn
			if !now.Before(switchAt.Add(s.o.MaxLifetime + time.Minute)) {
				old.state = "unpublished"
			}
		}
		v.keys = []keyState{old, primary}
	}
	for _, k := range s.set.Keys {
		md, err := s.describe(ctx, k)
		if err != nil {
			return nil, err
		}
		if arn := aws.ToString(md.Arn); !slices.ContainsFunc(v.keys, func(ks keyState) bool { return ks.arn == arn }) {
			v.keys = append(v.keys, keyState{arn: arn, state: "published", created: aws.ToTime(md.CreationDate)})
		}
	}
	return v, nil
}

// public returns the key's public key, from KMS once (it never changes).
func (s *Source) public(ctx context.Context, arn string) (keyPub, error) {
	s.mu.Lock()
	p, ok := s.pubs[arn]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	out, err := s.c.GetPublicKey(cctx, &kms.GetPublicKeyInput{KeyId: aws.String(arn)})
	if err != nil {
		return keyPub{}, explain(err, "GetPublicKey", arn)
	}
	spec := string(out.KeySpec)
	if !slices.Contains(s.alg.specs, spec) || out.KeyUsage != types.KeyUsageTypeSignVerify {
		return keyPub{}, fmt.Errorf("awskms: key %s is %s for %s, but %s needs a SIGN_VERIFY key of %v", arn, spec, out.KeyUsage, s.o.Alg, s.alg.specs)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return keyPub{}, fmt.Errorf("awskms: key %s: public key: %w", arn, err)
	}
	// The key must be what its KeySpec says (RFC 7518 §6.1: kty with alg):
	// an RSA key under ECC_NIST_P256, or an EC key under RSA_2048, would be
	// published as a JWK no relying party can use for this alg.
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = spec == "ECC_NIST_P256" && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		var bits int
		_, err := fmt.Sscanf(spec, "RSA_%d", &bits)
		ok = err == nil && k.N.BitLen() == bits
	}
	if !ok {
		return keyPub{}, fmt.Errorf("awskms: key %s: public key %T does not match %s", arn, pub, spec)
	}
	p = keyPub{kid: kidOf(arn), spec: spec, key: pub}
	s.mu.Lock()
	s.pubs[arn] = p
	s.mu.Unlock()
	return p, nil
}

// SigningSet implements signing.Source.
func (s *Source) SigningSet(ctx context.Context) (*signing.Set, error) {
	v, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	set := &signing.Set{}
	for _, k := range v.keys {
		if k.state == "unpublished" {
			continue
		}
		p, err := s.public(ctx, k.arn)
		if err != nil {
			return nil, err
		}
		if k.arn == v.active {
			set.Active = &signer{s: s, arn: k.arn, kid: p.kid, pub: p.key}
			if rk, ok := p.key.(*rsa.PublicKey); ok {
				set.Active.(*signer).size = rk.Size()
			}
		}
		set.Published = append(set.Published, signing.PublicKey{KID: p.kid, Alg: s.o.Alg, Key: p.key})
	}
	return set, nil
}

// Ensure is the start-up check: the key exists and is enabled
// (DescribeKey), its public key fits the algorithm (GetPublicKey), and one
// Sign verifies against it. Each failure names the key and, when refused,
// the permission missing. When Key is an alias that does not exist yet, it
// creates the first key and the alias (kms:CreateKey, kms:CreateAlias: a
// serving role without them is told to run "tokenbroker keys rotate").
func (s *Source) Ensure(ctx context.Context) (created bool, err error) {
	md, err := s.describe(ctx, s.set.Key)
	if errors.Is(err, backends.ErrNotFound) && s.previous != "" {
		if _, cerr := s.createKey(ctx, s.alg.newSpec, s.set.Key, true); cerr != nil {
			return false, fmt.Errorf("%w; creating the first key: %w (create it with \"tokenbroker keys rotate\" under a role that may, or with aws kms create-key and create-alias)", err, cerr)
		}
		created = true
		md, err = s.describe(ctx, s.set.Key)
	}
	if err != nil {
		return false, err
	}
	switch md.KeyState {
	case types.KeyStateEnabled:
	case types.KeyStateDisabled:
		return false, fmt.Errorf("awskms: key %s (%s) is disabled", s.set.Key, aws.ToString(md.Arn))
	default:
		return false, fmt.Errorf("awskms: key %s (%s) is %s, not Enabled", s.set.Key, aws.ToString(md.Arn), md.KeyState)
	}
	set, err := s.SigningSet(ctx)
	if err != nil {
		return false, err
	}
	probe := sha256.Sum256([]byte("tokenbroker start-up check"))
	sig, err := set.Active.(*signer).signDigest(ctx, probe[:])
	if err != nil {
		return created, fmt.Errorf("awskms: start-up Sign: %w", err)
	}
	for _, p := range set.Published {
		if p.KID == set.Active.KeyID() {
			if err := verify(s.o.Alg, p.Key, probe[:], sig); err != nil {
				return created, fmt.Errorf("awskms: key %s: the start-up signature does not verify: %w", set.Active.KeyID(), err)
			}
		}
	}
	return created, nil
}

// Rotate creates a key (of the spec the current one has) and moves the
// alias to it, the old target to <alias>-previous. The new key is published
// at once and signs PublishDelay later. Without force it returns
// signing.ErrTooSoon while the key <alias>-previous holds may still have
// valid tokens (it would drop out of the JWKS). With no alias yet it
// creates the first key and the alias.
func (s *Source) Rotate(ctx context.Context, force bool) error { return s.rotate(ctx, "", force) }

var _ signing.TargetRotator = (*Source)(nil)

// RotateTo is Rotate to an existing key (id or ARN) instead of a new one:
// it must be enabled, a SIGN_VERIFY key of the spec the algorithm needs.
func (s *Source) RotateTo(ctx context.Context, key string, force bool) error {
	if key == "" || strings.HasPrefix(key, "alias/") {
		return fmt.Errorf("awskms: rotate to a key id or ARN, not %q", key)
	}
	return s.rotate(ctx, key, force)
}

func (s *Source) rotate(ctx context.Context, to string, force bool) error {
	if s.previous == "" {
		return fmt.Errorf("awskms: rotation needs signing.aws_kms.key to be an alias, not %s", s.set.Key)
	}
	var target *types.KeyMetadata
	if to != "" {
		md, err := s.describe(ctx, to)
		if err != nil {
			return err
		}
		if md.KeyState != types.KeyStateEnabled {
			return fmt.Errorf("awskms: key %s is %s, not Enabled", to, md.KeyState)
		}
		if _, err := s.public(ctx, aws.ToString(md.Arn)); err != nil {
			return err
		}
		target = md
	}
	md, err := s.describe(ctx, s.set.Key)
	if errors.Is(err, backends.ErrNotFound) {
		if target != nil {
			return s.putAlias(ctx, s.set.Key, aws.ToString(target.KeyId))
		}
		_, err := s.createKey(ctx, s.alg.newSpec, s.set.Key, true)
		return err
	}
	if err != nil {
		return err
	}
	if target != nil && aws.ToString(target.Arn) == aws.ToString(md.Arn) {
		return fmt.Errorf("awskms: %s already is the key behind %s", to, s.set.Key)
	}
	v, err := s.current(ctx)
	if err != nil {
		return err
	}
	for _, k := range v.keys {
		if k.gone != nil && !force {
			if need := k.gone.Add(s.o.MaxLifetime + time.Minute); s.set.Now().Before(need) {
				return fmt.Errorf("%w: the previous key's tokens are valid until %s", signing.ErrTooSoon, need.UTC().Format(time.RFC3339))
			}
		}
	}
	if err := s.putAlias(ctx, s.previous, aws.ToString(md.KeyId)); err != nil {
		return err
	}
	if target != nil {
		return s.putAlias(ctx, s.set.Key, aws.ToString(target.KeyId))
	}
	_, err = s.createKey(ctx, string(md.KeySpec), s.set.Key, false)
	return err
}

// createKey makes a signing key of spec and points alias at it (creating the alias when create is set).
func (s *Source) createKey(ctx context.Context, spec, alias string, create bool) (string, error) {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	out, err := s.c.CreateKey(cctx, &kms.CreateKeyInput{KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeSignVerify,
		Description: aws.String("tokenbroker access-token signing key (" + alias + ")"),
		Tags:        []types.Tag{{TagKey: aws.String("tokenbroker"), TagValue: aws.String("signing")}}})
	if err != nil {
		return "", explain(err, "CreateKey", alias)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if create {
		if _, err = s.c.CreateAlias(cctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)}); err != nil {
			return "", explain(err, "CreateAlias", alias)
		}
		return id, nil
	}
	if _, err = s.c.UpdateAlias(cctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)}); err != nil {
		return "", explain(err, "UpdateAlias", alias)
	}
	return id, nil
}

// putAlias points alias at keyID, creating it when it does not exist.
func (s *Source) putAlias(ctx context.Context, alias, keyID string) error {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	_, err := s.c.UpdateAlias(cctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyID)})
	if code(err) == "NotFoundException" {
		_, err = s.c.CreateAlias(cctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(keyID)})
		if err != nil {
			return explain(err, "CreateAlias", alias)
		}
		return nil
	}
	if err != nil {
		return explain(err, "UpdateAlias", alias)
	}
	return nil
}

// List describes the keys, oldest role first; Version is the key ARN.
func (s *Source) List(ctx context.Context) ([]signing.KeyInfo, error) {
	v, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]signing.KeyInfo, 0, len(v.keys))
	for _, k := range v.keys {
		out = append(out, signing.KeyInfo{KID: kidOf(k.arn), Alg: s.o.Alg, State: k.state, Version: k.arn, Created: k.created, Activated: k.activated, Retired: k.gone})
	}
	return out, nil
}
