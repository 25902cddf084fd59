package backends

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// AuthFederatedJWT is the token_endpoint_auth_method of a federated client:
// an RFC 7523 §2.2 jwt-bearer client assertion whose iss is an external
// issuer the operator configured (a Kubernetes API server, a CI system, any
// OIDC provider), not the client itself. Not an IANA-registered name: it
// appears only in records and in this broker's metadata.
const AuthFederatedJWT = "federated_jwt"

// MaxFederatedSubject bounds the iss and sub of a FederatedSubject.
const MaxFederatedSubject = 256

// FederatedSubject is the one federated identity a client accepts: tokens
// from issuer Issuer whose sub is Subject, compared exactly (OIDC Core §2:
// iss + sub is the only stable, unique identifier). Only the operator sets
// it (CLI, direct backend writes); registration never does.
type FederatedSubject struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// UnmarshalJSON decodes strictly: exactly the members iss and sub, each
// once, as non-empty strings — no case variant ("ISS", which encoding/json
// would otherwise match), no duplicate, nothing else.
func (f *FederatedSubject) UnmarshalJSON(b []byte) error {
	members, err := strictObject(b, 1)
	if err != nil {
		if me, ok := err.(*MemberError); ok && me.Member != "(body)" {
			return memberErr("federated_subject."+me.Member, "%s", me.Reason)
		}
		return memberErr("federated_subject", "not a flat JSON object with iss and sub")
	}
	var out FederatedSubject
	for _, m := range members {
		var v string
		if err := json.Unmarshal(m.value, &v); err != nil {
			return memberErr("federated_subject."+m.name, "not a string")
		}
		switch m.name {
		case "iss":
			out.Issuer = v
		case "sub":
			out.Subject = v
		default:
			return memberErr("federated_subject."+m.name, "unknown member (only iss and sub)")
		}
	}
	if err := out.Check(); err != nil {
		return err
	}
	*f = out
	return nil
}

// Check reports a subject the broker could never match: iss not an https
// URL, an empty or over-long member, or invalid UTF-8.
func (f *FederatedSubject) Check() error {
	switch {
	case !strings.HasPrefix(f.Issuer, "https://") || len(f.Issuer) <= len("https://"):
		return memberErr("federated_subject", "iss must be an https URL")
	case strings.ContainsAny(f.Issuer, "#?"):
		return memberErr("federated_subject", "iss must have no query or fragment (OIDC Discovery §3)")
	case f.Subject == "":
		return memberErr("federated_subject", "sub is required")
	case len(f.Issuer) > MaxFederatedSubject || len(f.Subject) > MaxFederatedSubject:
		return memberErr("federated_subject", "iss and sub are at most %d bytes", MaxFederatedSubject)
	case !utf8.ValidString(f.Issuer) || !utf8.ValidString(f.Subject):
		return memberErr("federated_subject", "not UTF-8")
	}
	return nil
}
