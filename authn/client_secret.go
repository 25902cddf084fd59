package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// ClientSecretBasic is RFC 6749 §2.3.1 HTTP Basic authentication.
func ClientSecretBasic() Method { return secretMethod{basic: true} }

// ClientSecretPost is RFC 6749 §2.3.1 credentials in the request body.
func ClientSecretPost() Method { return secretMethod{} }

type secretMethod struct{ basic bool }

var _ Method = secretMethod{}

func (m secretMethod) Name() string {
	if m.basic {
		return backends.AuthClientSecretBasic
	}
	return backends.AuthClientSecretPost
}

func (m secretMethod) Detect(r *Request) (string, bool, error) {
	if m.basic {
		id, _, present, err := r.Basic()
		return id, present, err
	}
	if _, ok := r.Form["client_secret"]; !ok {
		return "", false, nil
	}
	id := single(r.Form, "client_id")
	if id == "" {
		return "", true, fmt.Errorf("%w: client_secret without client_id", ErrInvalidRequest)
	}
	return id, true, nil
}

func (m secretMethod) Verify(ctx context.Context, r *Request, e *backends.ClientEntry) error {
	var secret string
	if m.basic {
		_, secret, _, _ = r.Basic()
	} else {
		secret = single(r.Form, "client_secret")
	}
	if len(secret) > MaxSecretLen {
		return errors.New("secret too long")
	}
	if !VerifySecret(secret, e.Secrets, r.Now) {
		return errors.New("wrong secret")
	}
	return nil
}

// VerifySecret reports whether secret matches any active secret in set. It
// hashes once and compares against every stored digest in constant time,
// without stopping at the first match.
func VerifySecret(secret string, set *backends.SecretSet, now time.Time) bool {
	got := sha256.Sum256([]byte(secret))
	match := 0
	for _, s := range set.Secrets {
		d, ok := s.Digest()
		eq := subtle.ConstantTimeCompare(got[:], d[:])
		if ok && s.Active(now) {
			match |= eq
		}
	}
	return match == 1 && secret != ""
}

// ParseBasic parses an RFC 7617 Basic Authorization header carrying OAuth
// client credentials. RFC 6749 §2.3.1: the client id and secret are each
// application/x-www-form-urlencoded before being joined with ":" and base64
// encoded, so they are form-decoded here ("+" is a space, "%3A" a colon).
// present is false when the header is absent; a header of another scheme or a
// malformed Basic value is an error.
func ParseBasic(h string) (id, secret string, present bool, err error) {
	if h == "" {
		return "", "", false, nil
	}
	if len(h) > MaxAuthorizationLen {
		return "", "", true, fmt.Errorf("%w: Authorization header too long", ErrInvalidRequest)
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", true, fmt.Errorf("%w: unsupported Authorization scheme", ErrInvalidClient)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", true, fmt.Errorf("%w: Basic credentials are not base64", ErrInvalidRequest)
	}
	eid, esecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, fmt.Errorf("%w: Basic credentials without ':'", ErrInvalidRequest)
	}
	if id, err = url.QueryUnescape(eid); err != nil {
		return "", "", true, fmt.Errorf("%w: client id is not form-urlencoded", ErrInvalidRequest)
	}
	if secret, err = url.QueryUnescape(esecret); err != nil {
		return "", "", true, fmt.Errorf("%w: client secret is not form-urlencoded", ErrInvalidRequest)
	}
	if id == "" {
		return "", "", true, fmt.Errorf("%w: empty client id in Basic credentials", ErrInvalidClient)
	}
	return id, secret, true, nil
}

// dummyEntry is verified against when the client is unknown, so both paths
// do the same work.
func dummyEntry() *backends.ClientEntry {
	set := &backends.SecretSet{}
	for _, s := range []string{"tokenbroker-dummy-1", "tokenbroker-dummy-2"} {
		set.Secrets = append(set.Secrets, backends.Secret{Hash: backends.HashSecret(s)})
	}
	return &backends.ClientEntry{Client: &backends.Client{}, Secrets: set}
}
