package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/tokenbroker/tokenbroker/backends"
)

// MetadataError is RFC 7591 §3.2.2 invalid_client_metadata, naming the field.
type MetadataError struct {
	Field, Reason string
}

func (e *MetadataError) Error() string { return e.Field + ": " + e.Reason }

// operatorMembers are record members a client never sets: the server assigns
// client_id_issued_at (RFC 7591 §3.2.1, RFC 7592 §2.2), and disabled and the
// ceiling are the operator's.
var operatorMembers = []string{"client_id_issued_at", "disabled", "operator_ceiling", "federated_subject"}

// DecodeMetadata decodes RFC 7591 client metadata from untrusted JSON,
// strictly (backends.DecodeClient: exact member names, no duplicates or case
// variants, bounded size and depth): an error is a *MetadataError naming the
// member (RFC 7591 §3.2.2). Members only the server or the operator set —
// client_secret, registration_access_token, registration_client_uri,
// client_secret_expires_at, client_id_issued_at, disabled, operator_ceiling,
// the stored secret names — are refused.
func DecodeMetadata(body []byte) (*backends.Client, error) {
	md, secret, err := DecodeUpdate(body)
	if err == nil && secret != nil {
		err = &MetadataError{"client_secret", "issued by the server; a client cannot choose it"}
	}
	if err != nil {
		return nil, err
	}
	return md, nil
}

// DecodeUpdate decodes an RFC 7592 §2.2 update body like DecodeMetadata,
// except that a client_secret member is returned, not refused: a client may
// send back its current secret (check it with CheckSecret).
func DecodeUpdate(body []byte) (*backends.Client, *string, error) {
	md, held, err := backends.DecodeRecord(body, append([]string{"client_secret"}, operatorMembers...)...)
	if err != nil {
		return nil, nil, metadataErr(err)
	}
	for _, m := range operatorMembers {
		if _, ok := held[m]; ok {
			return nil, nil, &MetadataError{m, "set by the server or the operator; a client cannot set it"}
		}
	}
	raw, ok := held["client_secret"]
	if !ok {
		return md, nil, nil
	}
	var secret string
	if err := json.Unmarshal(raw, &secret); err != nil {
		return nil, nil, &MetadataError{"client_secret", "not a string"}
	}
	return md, &secret, nil
}

// metadataErr turns a backends.MemberError into invalid_client_metadata.
func metadataErr(err error) error {
	var me *backends.MemberError
	if errors.As(err, &me) {
		return &MetadataError{Field: me.Member, Reason: me.Reason}
	}
	return &MetadataError{Field: "(body)", Reason: "malformed JSON or wrong type"}
}

// CheckSelfService keeps self-registration from granting itself audiences —
// allowed_resources and default_audience must come from the operator's
// SelfServiceResources — and from holding a workload identity a client
// template covers (ReservedSANURI).
func (r *Registry) CheckSelfService(md *backends.Client) error {
	for _, res := range md.AllowedResources {
		if !slices.Contains(r.cfg.SelfServiceResources, res) {
			return &MetadataError{"allowed_resources", fmt.Sprintf("%q is not one the operator allows clients to register (registration.allowed_resources)", res)}
		}
	}
	if a := md.DefaultAudience; a != "" && !slices.Contains(r.cfg.SelfServiceResources, a) {
		return &MetadataError{"default_audience", fmt.Sprintf("%q is not one the operator allows clients to register", a)}
	}
	// A registrant never holds a workload identity a template covers: the
	// registration alone (no SVID needed) would cut that workload off its
	// template's grant. RFC 7592 self-management cannot change the match
	// later (keepFixed).
	if u := md.TLSClientAuthSANURI; u != "" && r.cfg.ReservedSANURI != nil && r.cfg.ReservedSANURI(u) {
		return &MetadataError{"tls_client_auth_san_uri", "a workload identity a client template covers; only the operator registers it"}
	}
	return nil
}
