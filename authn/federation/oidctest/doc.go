// Package oidctest is a local OpenID Connect issuer for tests: it serves a
// discovery document and a JWKS over real TLS on loopback and mints tokens
// in the claim layouts two platforms document, so that federated client
// authentication is tested against what real workloads present.
//
// Where the layouts come from:
//
//   - Kubernetes: projected service-account tokens as kube-apiserver's
//     TokenRequest API issues them (Kubernetes docs "Managing Service
//     Accounts" → "Service account token volume projection", and
//     pkg/serviceaccount/claims.go): iss, sub "system:serviceaccount:NS:SA",
//     aud as a list, exp, iat, nbf, jti, and the private claim
//     "kubernetes.io" {namespace, pod {name, uid}, serviceaccount {name,
//     uid}, node {name, uid}, warnafter}; discovery at
//     /.well-known/openid-configuration and keys at /openid/v1/jwks,
//     RS256 by default.
//   - GitHub Actions: the OIDC token of a workflow run (GitHub docs
//     "OpenID Connect reference"): iss, one aud string, sub
//     "repo:OWNER/NAME:ref:REF", repository, repository_owner, ref,
//     ref_type, sha, workflow, workflow_ref, job_workflow_ref, actor, run_id,
//     run_number, run_attempt, event_name, runner_environment, … and the
//     header typ "JWT".
//
// What it does not model: the real issuers' key sizes, x5t headers and
// key-rotation schedules; kube-apiserver's bound-object checks (a deleted
// pod's token is still valid here) and legacy (non-projected) secret-based
// tokens; GitHub's sub variants for environments, pull requests and
// customised sub templates (tests set Token.Claims["sub"] for those); the
// real issuer URLs (this one is https://127.0.0.1:PORT, so brokers must
// allow private addresses for it).
//
//	is, err := oidctest.New()
//	defer is.Close()
//	tok, err := is.Kubernetes("payments", "api", "api-7f9c", oidctest.Token{Audience: []string{brokerIssuer}})
//	err = is.Rotate(jose.RS256) // a new active key; the old one stays published until Retire
package oidctest
