package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
)

// The Transit signer: Sign calls queue up and workers send them to
// transit/sign in batches, one call per key version.

type signReq struct {
	ctx     context.Context
	input   []byte
	version int
	done    chan signRes
}

type signRes struct {
	sig []byte
	err error
}

type transitSigner struct {
	t       *Transit
	version int
	kid     string
}

func (s *transitSigner) KeyID() string { return s.kid }
func (s *transitSigner) Alg() string   { return s.t.cfg.Alg }

func (s *transitSigner) Sign(ctx context.Context, in []byte) ([]byte, error) {
	r := &signReq{ctx: ctx, input: in, version: s.version, done: make(chan signRes, 1)}
	select {
	case s.t.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.t.stop:
		return nil, errors.New("vault transit: closed")
	}
	select {
	case res := <-r.done:
		return res.sig, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// worker takes one request, then everything that queued up meanwhile, and
// signs them in one call per key version.
func (t *Transit) worker() {
	for {
		var first *signReq
		select {
		case first = <-t.reqs:
		case <-t.stop:
			return
		}
		batch := []*signReq{first}
	drain:
		for len(batch) < t.maxBatch {
			select {
			case r := <-t.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		byVersion := map[int][]*signReq{}
		for _, r := range batch {
			byVersion[r.version] = append(byVersion[r.version], r)
		}
		for v, rs := range byVersion {
			t.signBatch(v, rs)
		}
	}
}

func (t *Transit) signBatch(version int, rs []*signReq) {
	inputs := make([]map[string]any, len(rs))
	for i, r := range rs {
		inputs[i] = map[string]any{"input": base64.StdEncoding.EncodeToString(r.input)}
	}
	body := map[string]any{"batch_input": inputs, "key_version": version}
	maps.Copy(body, transitAlgs[t.cfg.Alg].params)
	ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.Timeout)
	defer cancel()
	p := t.cfg.Mount + "/sign/" + t.cfg.Key
	t.calls.Add(1)
	sec, err := t.s.client.Logical().WriteWithContext(ctx, p, body)
	fail := func(err error) {
		for _, r := range rs {
			r.done <- signRes{err: err}
		}
	}
	if err != nil {
		fail(t.s.explain(err, p, "update"))
		return
	}
	results, _ := sec.Data["batch_results"].([]any)
	if len(results) != len(rs) {
		fail(fmt.Errorf("vault transit: %d results for %d inputs", len(results), len(rs)))
		return
	}
	for i, raw := range results {
		m, _ := raw.(map[string]any)
		if e, _ := m["error"].(string); e != "" {
			rs[i].done <- signRes{err: fmt.Errorf("vault transit: %s", e)}
			continue
		}
		sig, err := decodeTransitSignature(m["signature"])
		rs[i].done <- signRes{sig: sig, err: err}
		t.signed.Add(1)
	}
}

// decodeTransitSignature strips "vault:vN:" and decodes the signature
// (base64url with JWS marshaling, standard base64 otherwise).
func decodeTransitSignature(v any) ([]byte, error) {
	s, _ := v.(string)
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" {
		return nil, errors.New("vault transit: malformed signature")
	}
	enc := parts[2]
	if b, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(enc); err == nil {
		return b, nil
	}
	return nil, errors.New("vault transit: signature is not base64")
}
