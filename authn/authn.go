package authn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// Decision errors. The wrapped cause is for the log only; the response says
// no more than the sentinel's OAuth error code (RFC 6749 §5.2).
var (
	// ErrInvalidRequest: the request is malformed (e.g. two authentication methods).
	ErrInvalidRequest = errors.New("invalid_request")
	// ErrInvalidClient: client authentication failed, for whatever reason.
	ErrInvalidClient = errors.New("invalid_client")
)

// Size limits on credentials, checked before any work is done with them.
const (
	MaxClientIDLen      = 256
	MaxSecretLen        = 512
	MaxAuthorizationLen = 4096
)

// Request is what client authentication sees of a request.
type Request struct {
	// Form holds the body parameters (never the query string: RFC 6749 §2.3.1).
	Form url.Values
	// Authorization is the raw Authorization header.
	Authorization string
	// Certificates is the client's certificate chain, leaf first: from the
	// TLS handshake (possession proven, chain not yet verified) or from a
	// trusted proxy's header. Nil when none was presented.
	Certificates *certs.Presented
	// Now is the request time (zero: time.Now()).
	Now time.Time

	// The parsed, not yet verified, client assertion (set by private_key_jwt's Detect).
	assertion       *jose.JSONWebSignature
	assertionClaims *jwt.Claims
	assertionRaw    string // the compact serialization, as sent

	// method is the method Authenticate settled on, once it knows (Claimed).
	method string
	// The client and method the request claims, worked out once (Claimed).
	claimedDone           bool
	claimedID, claimedHow string

	// The Basic header, parsed once (Basic).
	basicDone            bool
	basicID, basicSecret string
	basicPresent         bool
	basicErr             error
}

// Basic returns the parsed Basic Authorization header (see ParseBasic),
// parsing it only once per request.
func (r *Request) Basic() (id, secret string, present bool, err error) {
	if !r.basicDone {
		r.basicID, r.basicSecret, r.basicPresent, r.basicErr = ParseBasic(r.Authorization)
		r.basicDone = true
	}
	return r.basicID, r.basicSecret, r.basicPresent, r.basicErr
}

// Method values Claimed reports besides the RFC 7591 method names.
const (
	// ClaimedCertificate: only a certificate and a client_id, before the
	// registration said whether that is tls_client_auth or its self-signed variant.
	ClaimedCertificate = "certificate"
	// ClaimedNone: no credentials at all.
	ClaimedNone = "none"
)

// maxClaimedAssertion bounds the assertion Claimed parses on its own (the
// default assertions.max_size); after Authenticate it reuses its parse.
const maxClaimedAssertion = 8 << 10

// Claimed returns the client a request says it is and the authentication
// method it attempted, verifying nothing: for failed-authentication limits,
// metrics and the audit trail of refusals, never for a decision to trust.
// The client comes from the credentials themselves — the Basic user name,
// the client assertion's sub (iss when sub is absent; RFC 7523 §3 requires
// both to be the client_id), else the client_id parameter — and is "" when
// longer than MaxClientIDLen. Work already done by Authenticate is reused.
func (r *Request) Claimed() (clientID, method string) {
	if r.claimedDone {
		return r.claimedID, r.claimedHow
	}
	r.claimedDone = true
	id, _, basic, err := r.Basic()
	_, assertion := r.Form["client_assertion"]
	_, assertionType := r.Form["client_assertion_type"]
	_, secret := r.Form["client_secret"]
	switch {
	case basic:
		method = backends.AuthClientSecretBasic
		if err == nil {
			clientID = id
		}
	case assertion || assertionType:
		method = backends.AuthPrivateKeyJWT
		clientID = r.assertionSubject()
	case secret:
		method = backends.AuthClientSecretPost
	case r.Certificates != nil:
		method = ClaimedCertificate
	default:
		method = ClaimedNone
	}
	if r.method != "" {
		method = r.method
	}
	if clientID == "" {
		clientID = single(r.Form, "client_id")
	}
	if len(clientID) > MaxClientIDLen {
		clientID = ""
	}
	r.claimedID, r.claimedHow = clientID, method
	return clientID, method
}

// assertionSubject is the unverified sub (or iss) of the client assertion:
// from private_key_jwt's Detect when it ran, else parsed here, the same way.
func (r *Request) assertionSubject() string {
	cl := r.assertionClaims
	if cl == nil {
		a := single(r.Form, "client_assertion")
		if a == "" || len(a) > maxClaimedAssertion {
			return ""
		}
		tok, err := ParseAssertion(a)
		if err != nil {
			return ""
		}
		cl = new(jwt.Claims)
		if josejson.Unmarshal(tok.UnsafePayloadWithoutVerification(), cl) != nil {
			return ""
		}
	}
	if cl.Subject != "" {
		return cl.Subject
	}
	return cl.Issuer
}

// Result is an authenticated client.
type Result struct {
	Client *backends.Client
	Method string
	// Certificate is the presented chain, if any: tokens are bound to its
	// leaf (RFC 8705 §3) for mTLS methods and for clients that registered
	// tls_client_certificate_bound_access_tokens.
	Certificate *certs.Presented
}

// Method is one client authentication method.
type Method interface {
	// Name is the RFC 7591 token_endpoint_auth_method value.
	Name() string
	// Detect reports whether r carries this method's credentials and the
	// client_id they claim. A malformed credential returns an error.
	Detect(r *Request) (clientID string, present bool, err error)
	// Verify checks r's credentials against the client's registration.
	Verify(ctx context.Context, r *Request, e *backends.ClientEntry) error
}

// ClientSource looks clients up. authn owns it so that it depends on no
// cache: the broker hands in the client cache (*cache.Clients).
type ClientSource interface {
	Get(ctx context.Context, id string) (*backends.ClientEntry, error)
}

// Authenticator applies the cross-method rules.
type Authenticator struct {
	clients ClientSource
	methods []Method
	// certOnly are the methods whose only credential is the certificate
	// (RFC 8705 §2); they apply when no other credential is present.
	certOnly map[string]Method
	names    []string
	dummy    *backends.ClientEntry
}

// CertificateMethod marks methods whose credential is the TLS client certificate itself.
type CertificateMethod interface {
	Method
	certificateOnly()
}

// New returns an Authenticator over clients with the given methods.
func New(clients ClientSource, methods []Method) (*Authenticator, error) {
	if clients == nil || len(methods) == 0 {
		return nil, errors.New("authn: need a client source and at least one method")
	}
	a := &Authenticator{clients: clients, certOnly: map[string]Method{}, dummy: dummyEntry()}
	seen := map[string]bool{}
	for _, m := range methods {
		if seen[m.Name()] {
			return nil, fmt.Errorf("authn: method %s given twice", m.Name())
		}
		seen[m.Name()] = true
		a.names = append(a.names, m.Name())
		if _, ok := m.(CertificateMethod); ok {
			a.certOnly[m.Name()] = m
		} else {
			a.methods = append(a.methods, m)
		}
	}
	return a, nil
}

// Methods returns the names of the supported methods.
func (a *Authenticator) Methods() []string { return append([]string(nil), a.names...) }

// Authenticate identifies and verifies the client.
func (a *Authenticator) Authenticate(ctx context.Context, r *Request) (*Result, error) {
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	var (
		method   Method
		clientID string
	)
	for _, m := range a.methods {
		id, present, err := m.Detect(r)
		if err != nil {
			return nil, err
		}
		if !present {
			continue
		}
		if method != nil {
			// RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
			return nil, fmt.Errorf("%w: more than one client authentication method (%s, %s)", ErrInvalidRequest, method.Name(), m.Name())
		}
		method, clientID = m, id
		r.method = m.Name()
	}
	if method == nil {
		// RFC 8705 §2: with mutual TLS the certificate is the credential and
		// client_id the only parameter.
		clientID = single(r.Form, "client_id")
		if r.Certificates == nil || clientID == "" || len(a.certOnly) == 0 {
			return nil, fmt.Errorf("%w: no client authentication", ErrInvalidClient)
		}
	} else if formID := single(r.Form, "client_id"); formID != "" && formID != clientID {
		return nil, fmt.Errorf("%w: client_id parameter %q does not match the authenticated client %q", ErrInvalidClient, formID, clientID)
	}
	if len(clientID) > MaxClientIDLen {
		return nil, fmt.Errorf("%w: client_id too long", ErrInvalidClient)
	}

	e, err := a.lookup(ctx, clientID)
	if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrInvalidRecord) {
		// Spend the same work as a real check so an unknown client and a
		// wrong credential cannot be told apart by timing.
		if method != nil {
			_ = method.Verify(ctx, r, a.dummy)
		}
		if errors.Is(err, backends.ErrInvalidRecord) {
			// A record that fails validation refuses its client, like an
			// unknown one from outside; the cause goes to the log.
			return nil, fmt.Errorf("%w: client %q: %w", ErrInvalidClient, clientID, err)
		}
		return nil, fmt.Errorf("%w: unknown client %q", ErrInvalidClient, clientID)
	}
	if err != nil {
		return nil, err // backends.ErrUnavailable: 503, not 401
	}
	c := e.Client
	if method == nil {
		method = a.certOnly[c.TokenEndpointAuthMethod]
		if method == nil {
			return nil, fmt.Errorf("%w: client %q registered %s but presented only a certificate", ErrInvalidClient, clientID, c.TokenEndpointAuthMethod)
		}
		r.method = method.Name()
	}
	if c.TokenEndpointAuthMethod != method.Name() {
		// No downgrade: the registered method is the only one accepted.
		_ = method.Verify(ctx, r, a.dummy)
		return nil, fmt.Errorf("%w: client %q registered %s, request used %s", ErrInvalidClient, clientID, c.TokenEndpointAuthMethod, method.Name())
	}
	if err := method.Verify(ctx, r, e); err != nil {
		return nil, fmt.Errorf("%w: client %q: %w", ErrInvalidClient, clientID, err)
	}
	if c.Disabled {
		return nil, fmt.Errorf("%w: client %q is disabled", ErrInvalidClient, clientID)
	}
	return &Result{Client: c, Method: method.Name(), Certificate: r.Certificates}, nil
}

// lookup asks the client source for id. An id no backend can hold
// (backends.ValidClientID: "bad id!", 129–256 bytes) is unknown without
// asking: refused below like any unknown client (same dummy work, same
// body), and never a backend read that could pass for "the backend answered"
// during an outage.
func (a *Authenticator) lookup(ctx context.Context, id string) (*backends.ClientEntry, error) {
	if !backends.ValidClientID(id) {
		return nil, fmt.Errorf("invalid client id: %w", backends.ErrNotFound)
	}
	return a.clients.Get(ctx, id)
}

// single returns the one value of a form parameter ("" when absent).
// Repeated parameters are rejected earlier, by the broker's form parser.
func single(f url.Values, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
