package awskms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// signer signs with one KMS key, by ARN: the key the roles chose, not
// whatever the alias points to this instant.
type signer struct {
	s        *Source
	arn, kid string
	size     int // an RSA signature's length (the modulus'), 0 for ECDSA
	pub      crypto.PublicKey
}

var _ signing.Signer = (*signer)(nil)

func (g *signer) KeyID() string { return g.kid }
func (g *signer) Alg() string   { return g.s.o.Alg }

// Sign implements signing.Signer: one KMS Sign call (MessageType DIGEST:
// the SHA-256 of the JWS signing input, RFC 7515 §5.1) per token.
func (g *signer) Sign(ctx context.Context, in []byte) ([]byte, error) {
	d := sha256.Sum256(in)
	return g.signDigest(ctx, d[:])
}

// signDigest waits for a slot (gate), calls Sign, and on ThrottlingException
// backs off and tries again while its wait allows; whatever cannot be
// signed in time is a *signing.UnavailableError.
func (g *signer) signDigest(ctx context.Context, digest []byte) ([]byte, error) {
	s := g.s
	deadline := time.Now().Add(s.set.QueueWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		release, err := s.gate.g.acquire(ctx, deadline, s.obs)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		cctx, cancel := s.callCtx(ctx)
		out, err := s.c.Sign(cctx, &kms.SignInput{KeyId: aws.String(g.arn), Message: digest, MessageType: types.MessageTypeDigest,
			SigningAlgorithm: types.SigningAlgorithmSpec(s.alg.kmsAlg)}, func(o *kms.Options) { o.RetryMaxAttempts = 1 })
		cancel()
		elapsed := time.Since(start)
		release()
		switch c := code(err); {
		case err == nil:
			s.obs.SignCall(SigningSource, elapsed, "ok")
			s.gate.g.succeeded()
			sig := out.Signature
			if !s.alg.ecdsaDER {
				if len(sig) != g.size { // RFC 8017 §8.1.1, §8.2.1: exactly k octets
					return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: fmt.Errorf("awskms: key %s: %d-byte RSA signature from KMS, want %d", g.arn, len(sig), g.size)}
				}
			} else if sig, err = joseES256(sig); err != nil {
				return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: fmt.Errorf("key %s: %w", g.arn, err)}
			}
			// KMS (or whatever answers in its name) may return a well-formed
			// signature over another digest or by another key: verify it as
			// relying parties will (RFC 7515 §5.2) against the public key
			// the JWKS publishes, so that a token nobody can verify is never
			// issued.
			if err := verify(s.o.Alg, g.pub, digest, sig); err != nil {
				return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: fmt.Errorf("awskms: key %s: the signature from KMS does not verify: %w", g.arn, err)}
			}
			return sig, nil
		case c == "ThrottlingException":
			s.obs.SignCall(SigningSource, elapsed, "throttled")
			s.gate.g.throttled()
			continue // acquire waits out the backoff, or refuses when it ends past the deadline
		default:
			s.obs.SignCall(SigningSource, elapsed, "error")
			if ctx.Err() != nil { // the caller went away: still not a server error
				return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
			}
			// A disabled key, a refused permission, KMS or the network down:
			// the caller may retry; the cause (naming the key) is logged by it.
			return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: explain(err, "Sign", g.arn)}
		}
	}
}

// verify checks a signature the way relying parties will (start-up check).
func verify(alg string, pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 || !ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("ECDSA signature invalid")
		}
		return nil
	case *rsa.PublicKey:
		if alg == "PS256" {
			return rsa.VerifyPSS(k, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig)
	}
	return fmt.Errorf("unexpected key %T", pub)
}
