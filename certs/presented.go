package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strconv"
	"sync"
)

// Presented is a client's certificate chain, leaf first, with what the broker
// derives from it on every request, computed once. A TLS connection presents
// the same chain for all its requests, so the broker keeps one Presented per
// connection and a keep-alive client pays for hashing and parsing once.
type Presented struct {
	// Chain is the chain as presented (not yet verified), leaf first.
	Chain []*x509.Certificate
	// ChainSHA256 is SHA-256 over each certificate's DER in order: the key of
	// verified-chain caches.
	ChainSHA256 [32]byte
	// Thumbprint is the leaf's RFC 8705 §3.1 x5t#S256.
	Thumbprint string

	subjectOnce sync.Once
	subject     string // the leaf's subject as an RFC 4514 string
	keyOnce     sync.Once
	subjectKey  string // canonical DN (see DN.key); "" when the subject is not a string DN
}

// NewPresented derives a Presented from chain; nil for an empty chain.
func NewPresented(chain []*x509.Certificate) *Presented {
	if len(chain) == 0 {
		return nil
	}
	p := &Presented{Chain: chain}
	if len(chain) == 1 { // the usual case: the chain's hash is the leaf's
		p.ChainSHA256 = sha256.Sum256(chain[0].Raw)
		p.Thumbprint = base64.RawURLEncoding.EncodeToString(p.ChainSHA256[:])
		return p
	}
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	h.Sum(p.ChainSHA256[:0])
	p.Thumbprint = Thumbprint(chain[0])
	return p
}

// Leaf is the end-entity certificate.
func (p *Presented) Leaf() *x509.Certificate { return p.Chain[0] }

// Subject is the leaf's subject as an RFC 4514 string, for the audit trail;
// derived on first use (the resource middleware never needs it).
func (p *Presented) Subject() string {
	p.subjectOnce.Do(func() { p.subject = p.Chain[0].Subject.String() })
	return p.subject
}

// MatchSubjectDN reports whether the leaf's subject equals the RFC 4514 dn,
// compared as DN.Equal does.
func (p *Presented) MatchSubjectDN(dn string) bool {
	want, ok := registeredDNKey(dn)
	// The canonical subject is derived on first use: only tls_client_auth
	// with a registered DN needs it, not the resource middleware.
	p.keyOnce.Do(func() {
		if d, err := SubjectDN(p.Chain[0]); err == nil {
			p.subjectKey = d.key()
		}
	})
	return ok && p.subjectKey != "" && p.subjectKey == want
}

// registeredDNKeys caches the canonical form of registered DN strings: they
// come from client records, so there are about as many as clients.
var registeredDNKeys = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

const maxRegisteredDNKeys = 4096

func registeredDNKey(s string) (string, bool) {
	registeredDNKeys.Lock()
	k, ok := registeredDNKeys.m[s]
	registeredDNKeys.Unlock()
	if ok {
		return k, k != ""
	}
	if dn, err := ParseDN(s); err == nil {
		k = dn.key()
	}
	registeredDNKeys.Lock()
	if len(registeredDNKeys.m) >= maxRegisteredDNKeys {
		clear(registeredDNKeys.m)
	}
	registeredDNKeys.m[s] = k
	registeredDNKeys.Unlock()
	return k, k != ""
}

// key is a canonical encoding of d: two DNs are Equal exactly when their
// keys are equal. Each RDN is normalised as Equal does (folded values,
// attributes sorted) and every type and value is length-prefixed, so no
// value can imitate a separator.
func (d DN) key() string {
	b := make([]byte, 0, 64)
	for _, rdn := range d {
		b = append(b, '[')
		for _, a := range normRDN(rdn) {
			b = strconv.AppendInt(b, int64(len(a.Type)), 10)
			b = append(b, ':')
			b = append(b, a.Type...)
			b = strconv.AppendInt(b, int64(len(a.Value)), 10)
			b = append(b, ':')
			b = append(b, a.Value...)
		}
		b = append(b, ']')
	}
	return string(b)
}
