package oidctest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Token is what a mint call may change about a token.
type Token struct {
	// Audience is aud (Kubernetes: a list; GitHub: one string).
	Audience []string
	// IssuedAt is iat and nbf (default now); Lifetime makes exp (default 1h).
	IssuedAt time.Time
	Lifetime time.Duration
	// Issuer overrides iss (a token claiming another issuer).
	Issuer string
	// Header adds JOSE header members (typ, …).
	Header map[jose.HeaderKey]any
	// Claims are set last: they override or add (nil value: remove).
	Claims map[string]any
	// Signer signs instead of the active key (a spoofing attacker's key).
	Signer *jose.JSONWebKey
}

func (t Token) times() (iat, exp time.Time) {
	iat = t.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	life := t.Lifetime
	if life == 0 {
		life = time.Hour
	}
	return iat, iat.Add(life)
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Kubernetes mints a projected service-account token for pod in namespace
// ns running as service account sa, as kube-apiserver's TokenRequest API
// does (pkg/serviceaccount/claims.go): iss, sub
// "system:serviceaccount:NS:SA", aud (a list), exp, iat, nbf, jti and the
// private "kubernetes.io" claim with namespace, pod, serviceaccount, node
// and warnafter.
func (is *Issuer) Kubernetes(ns, sa, pod string, t Token) (string, error) {
	iat, exp := t.times()
	claims := map[string]any{
		"iss": is.URL,
		"sub": "system:serviceaccount:" + ns + ":" + sa,
		"aud": t.Audience,
		"exp": exp.Unix(),
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"jti": randomID(),
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"pod":            map[string]any{"name": pod, "uid": randomID()},
			"serviceaccount": map[string]any{"name": sa, "uid": randomID()},
			"node":           map[string]any{"name": "node-1", "uid": randomID()},
			"warnafter":      iat.Add(exp.Sub(iat) * 8 / 10).Unix(),
		},
	}
	return is.sign(claims, t)
}

// GitHub mints a GitHub Actions OIDC token for a workflow run of repo
// ("owner/name") on ref ("refs/heads/main"), in the layout GitHub documents
// ("OpenID Connect reference"): sub "repo:OWNER/NAME:ref:REF", one aud
// string, and the repository, ref, sha, workflow, job_workflow_ref, actor,
// run and runner claims.
func (is *Issuer) GitHub(repo, ref string, t Token) (string, error) {
	iat, exp := t.times()
	var aud any
	if len(t.Audience) == 1 {
		aud = t.Audience[0]
	} else {
		aud = t.Audience
	}
	owner := repo
	for i := range repo {
		if repo[i] == '/' {
			owner = repo[:i]
			break
		}
	}
	var sha [20]byte
	_, _ = rand.Read(sha[:])
	claims := map[string]any{
		"iss": is.URL, "aud": aud, "exp": exp.Unix(), "iat": iat.Unix(), "nbf": iat.Unix(), "jti": randomID(),
		"sub":                   "repo:" + repo + ":ref:" + ref,
		"ref":                   ref,
		"ref_type":              "branch",
		"sha":                   hex.EncodeToString(sha[:]),
		"repository":            repo,
		"repository_id":         "123456789",
		"repository_owner":      owner,
		"repository_owner_id":   "987654",
		"repository_visibility": "private",
		"run_id":                "1234567890",
		"run_number":            "42",
		"run_attempt":           "1",
		"actor":                 "octocat",
		"actor_id":              "583231",
		"workflow":              "deploy",
		"workflow_ref":          repo + "/.github/workflows/deploy.yml@" + ref,
		"workflow_sha":          hex.EncodeToString(sha[:]),
		"job_workflow_ref":      repo + "/.github/workflows/deploy.yml@" + ref,
		"job_workflow_sha":      hex.EncodeToString(sha[:]),
		"event_name":            "push",
		"head_ref":              "",
		"base_ref":              "",
		"runner_environment":    "github-hosted",
	}
	if t.Header == nil {
		t.Header = map[jose.HeaderKey]any{}
	}
	if _, ok := t.Header[jose.HeaderType]; !ok {
		t.Header[jose.HeaderType] = "JWT" // GitHub types its tokens
	}
	return is.sign(claims, t)
}

// Mint signs arbitrary claims (iss defaults to the issuer) with t's rules.
func (is *Issuer) Mint(claims map[string]any, t Token) (string, error) {
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = is.URL
	}
	return is.sign(claims, t)
}

func (is *Issuer) sign(claims map[string]any, t Token) (string, error) {
	if t.Issuer != "" {
		claims["iss"] = t.Issuer
	}
	for k, v := range t.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	payload, err := marshal(claims)
	if err != nil {
		return "", err
	}
	return is.signBytes(payload, t)
}

func (is *Issuer) signBytes(payload []byte, t Token) (string, error) {
	key := t.Signer
	if key == nil {
		is.mu.Lock()
		key = is.keys[len(is.keys)-1]
		is.mu.Unlock()
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", key.KeyID)
	for k, v := range t.Header {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key.Key}, opts)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
