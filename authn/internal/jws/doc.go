// Package jws holds the JWS rules (RFC 7515, RFC 7518 §3.4) around the ES256
// primitive in internal/es256, for authn and the resource middleware: which
// compact JWS the primitive's tables may verify, and over which bytes. The
// primitive itself knows digests and R ‖ S signatures, nothing of headers.
//
//	if ok, handled := jws.VerifyES256(&tables, compact, parsed, key, now); handled {
//		// ok: the payload is authentic
//	} else if _, err := parsed.Verify(key); err == nil {
//		tables.Admit(key, now) // a genuine signature: the key is in use
//	}
package jws
