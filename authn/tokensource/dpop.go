package tokensource

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
)

// DPoP asks for DPoP-bound tokens (RFC 9449) and proves possession of the
// key on every token request and API call.
type DPoP struct {
	// Key signs the proofs: an ECDSA P-256/P-384, Ed25519 or RSA (≥ 2048
	// bits) key, or any crypto.Signer holding one (a KMS or HSM key). Nil: New
	// generates a P-256 key, held in memory for the Source's life — tokens
	// are bound to it, so they keep working across refreshes, and nothing
	// outside the process can use them.
	Key crypto.Signer
	// Alg picks PS256 or RS256 for an RSA key (default PS256); other keys have one algorithm.
	Alg jose.SignatureAlgorithm
}

// maxNonceOrigins bounds how many origins' nonces a Source remembers.
const maxNonceOrigins = 64

// useDPoPNonce is the error code of RFC 9449 §8 (token endpoint) and §9
// (resource server).
const useDPoPNonce = "use_dpop_nonce"

// dpopState is a Source's DPoP key and the nonces servers gave it.
type dpopState struct {
	prover *dpop.Prover
	mu     sync.Mutex
	nonces map[string]string // origin → the last DPoP-Nonce it sent (RFC 9449 §8.2, §9)
}

func newDPoPState(c *DPoP) (*dpopState, error) {
	key := c.Key
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("tokensource: DPoP key: %w", err)
		}
		key = k
	}
	var opts []dpop.ProverOption
	if c.Alg != "" {
		opts = append(opts, dpop.WithAlgorithm(c.Alg))
	}
	p, err := dpop.NewProver(key, opts...)
	if err != nil {
		return nil, fmt.Errorf("tokensource: %w", err)
	}
	return &dpopState{prover: p, nonces: map[string]string{}}, nil
}

// JKT is the RFC 7638 thumbprint of the Source's DPoP key — the cnf.jkt
// of its tokens — or "" without DPoP.
func (s *Source) JKT() string {
	if s.dpop == nil {
		return ""
	}
	return s.dpop.prover.JKT()
}

// DPoPProof returns a fresh proof for a request with method htm to htu
// carrying tok (RFC 9449 §4.2, §7.1), with the nonce htu's origin last
// sent. For callers that build their own requests (Client does this for
// every request); a proof is single-use.
func (s *Source) DPoPProof(htm, htu string, tok *oauth2.Token) (string, error) {
	if s.dpop == nil {
		return "", errors.New("tokensource: DPoP is not configured")
	}
	u, err := url.Parse(htu)
	if err != nil {
		return "", fmt.Errorf("tokensource: %w", err)
	}
	at := ""
	if tok != nil {
		at = tok.AccessToken
	}
	return s.dpop.prover.Proof(htm, htu, at, s.dpop.nonce(u))
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + portOf(u)
}

func (d *dpopState) nonce(u *url.URL) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonces[origin(u)]
}

// remember keeps the DPoP-Nonce a response from u carried, if any: a
// server may send a new one with any response (RFC 9449 §8.2, §9). A value
// that is not RFC 9449 §8.1 syntax, or longer than a server of ours would
// accept back, is ignored.
func (d *dpopState) remember(u *url.URL, resp *http.Response) {
	vs := resp.Header.Values(dpop.NonceHeader)
	if len(vs) != 1 || !validNonce(vs[0]) { // §8: never more than one DPoP-Nonce header
		return
	}
	o := origin(u)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.nonces[o]; !ok && len(d.nonces) >= maxNonceOrigins {
		for k := range d.nonces { // bounded: forget one origin's nonce; it costs that origin one retry
			delete(d.nonces, k)
			break
		}
	}
	d.nonces[o] = vs[0]
}

// validNonce is RFC 9449 §8.1: nonce = 1*NQCHAR, bounded.
func validNonce(n string) bool {
	if n == "" || len(n) > dpop.MaxNonceLength {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// signTokenRequest adds a proof to a token request (RFC 9449 §5: no ath).
func (s *Source) signTokenRequest(req *http.Request) error {
	if s.dpop == nil {
		return nil
	}
	p, err := s.dpop.prover.Proof(http.MethodPost, req.URL.String(), "", s.dpop.nonce(req.URL))
	if err != nil {
		return fmt.Errorf("tokensource: DPoP proof: %w", err)
	}
	req.Header.Set(dpop.HeaderName, p)
	return nil
}

// noteNonce remembers a DPoP-Nonce from the token endpoint or an API.
func (s *Source) noteNonce(u *url.URL, resp *http.Response) {
	if s.dpop != nil && resp != nil {
		s.dpop.remember(u, resp)
	}
}

// fetchToken is fetch, repeated once when the token endpoint asks for a
// (new) DPoP nonce (RFC 9449 §8): the answer carried it, fetch remembered
// it, and the second request — a new proof, and a new assertion — sends it.
func (s *Source) fetchToken(ctx context.Context) (*oauth2.Token, error) {
	tok, err := s.fetch(ctx)
	var se *ServerError
	if s.dpop != nil && errors.As(err, &se) && se.Code == useDPoPNonce {
		return s.fetch(ctx)
	}
	return tok, err
}

// ErrNotDPoP is returned when a Source configured for DPoP is answered
// with a token of another type.
var ErrNotDPoP = errors.New("tokensource: DPoP was configured but the token endpoint issued a token of another type; not used")

// checkTokenType refuses, for a Source with DPoP, a token the server typed
// other than DPoP (compared case-insensitively, RFC 6749 §7.1). RFC 9449 §5
// lets an authorization server that does not support DPoP ignore the proof
// and answer Bearer, and lets the client expecting a DPoP-bound token
// discard that answer: this kit does, because an unbound bearer token is
// exactly what the caller configured DPoP to avoid — it would be sent to
// every API, replayable by whoever sees it. The token is not cached.
func (s *Source) checkTokenType(tok *oauth2.Token) error {
	if s.dpop == nil || strings.EqualFold(tok.TokenType, dpop.TokenType) {
		return nil
	}
	return fmt.Errorf("%w (token_type %.20q)", ErrNotDPoP, tok.TokenType)
}

// isDPoP reports whether tok is to be sent with the DPoP scheme: the
// token endpoint said so (token_type, RFC 9449 §5) and this Source holds
// the key. Any other token is sent as the server typed it — Bearer.
func (s *Source) isDPoP(tok *oauth2.Token) bool {
	return s.dpop != nil && strings.EqualFold(tok.TokenType, dpop.TokenType)
}

// authorize returns a shallow clone of req (sharing its body) carrying tok:
// "Authorization: Bearer" (RFC 6750 §2.1), or for a DPoP-bound token
// "Authorization: DPoP" and a fresh proof for this method and URL with the
// token's hash (RFC 9449 §7.1).
func (s *Source) authorize(req *http.Request, tok *oauth2.Token) (*http.Request, error) {
	r := req.Clone(req.Context())
	if !s.isDPoP(tok) {
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		r.Header.Del(dpop.HeaderName)
		return r, nil
	}
	p, err := s.dpop.prover.Proof(req.Method, req.URL.String(), tok.AccessToken, s.dpop.nonce(req.URL))
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP proof: %w", err)
	}
	r.Header.Set("Authorization", dpop.TokenType+" "+tok.AccessToken)
	r.Header.Set(dpop.HeaderName, p)
	return r, nil
}

// send sends req with tok. When the API answers 401 use_dpop_nonce with a
// nonce (RFC 9449 §9), it sends the request once more with a new proof
// carrying that nonce, if the body can be replayed (RFC 9449 §7.3: every
// attempt gets its own proof).
func (rt *roundTripper) send(req *http.Request, tok *oauth2.Token) (*http.Response, error) {
	s := rt.src
	r, err := s.authorize(req, tok)
	if err != nil {
		return nil, err
	}
	resp, err := rt.base.RoundTrip(r)
	if err != nil || !s.isDPoP(tok) {
		return resp, err
	}
	s.noteNonce(req.URL, resp)
	if resp.StatusCode != http.StatusUnauthorized || !challengesNonce(resp) || resp.Header.Get(dpop.NonceHeader) == "" {
		return resp, nil
	}
	retry := req.Clone(req.Context())
	if req.Body != nil {
		if req.GetBody == nil {
			return resp, nil // cannot replay the body
		}
		if retry.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	if r, err = s.authorize(retry, tok); err != nil {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	resp, err = rt.base.RoundTrip(r)
	if err == nil {
		s.noteNonce(req.URL, resp)
	}
	return resp, err
}

// challengesNonce reports whether a 401's WWW-Authenticate carries a DPoP
// challenge with error="use_dpop_nonce" (RFC 9449 §9).
func challengesNonce(resp *http.Response) bool {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		for _, c := range parseChallenges(v) {
			if strings.EqualFold(c.scheme, dpop.TokenType) && c.params["error"] == useDPoPNonce {
				return true
			}
		}
	}
	return false
}
