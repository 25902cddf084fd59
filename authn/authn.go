package authn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

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

	// ident is the identification step's result, worked out once (identify).
	ident *identification
	// issuers are the Authenticator's IssuerMethods while it identifies r:
	// private_key_jwt steps aside for an assertion one of them verifies.
	issuers []IssuerMethod

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

// Method values Identity reports besides the RFC 7591 method names.
const (
	// ClaimedCertificate: only a certificate and a client_id, before the
	// registration said whether that is tls_client_auth or its self-signed variant.
	ClaimedCertificate = "certificate"
	// ClaimedNone: no credentials at all.
	ClaimedNone = "none"
)

// Identity is the client a request claims to be and the authentication
// method whose credentials it carries, verified by nothing: for
// failed-authentication limits, metrics and the audit trail, never for a
// decision to trust. ClientID comes from the credentials themselves — the
// Basic user name, the client assertion's sub (iss when sub is absent;
// RFC 7523 §3 requires both to be the client_id), else the client_id
// parameter — and is "" when longer than MaxClientIDLen.
type Identity struct {
	ClientID string
	// Method is the RFC 7591 token_endpoint_auth_method, ClaimedCertificate
	// or ClaimedNone; after Authenticate loaded the client, a certificate
	// becomes the method it registered.
	Method string
}

// identification is the identification step's result, kept on the Request.
type identification struct {
	by     *Authenticator // nil: the default methods (Request.Claimed)
	id     Identity
	method Method // whose credentials these are; nil: a certificate only, or nothing
	err    error  // why the credentials cannot be verified as they are
}

// maxClaimedAssertion bounds the assertion Claimed parses on its own (the
// default assertions.max_size).
const maxClaimedAssertion = 8 << 10

// claimedMethods identify a request no Authenticator has seen (Claimed):
// every method whose credentials travel in the request, as configured by default.
var claimedMethods = []Method{ClientSecretBasic(), &privateKeyJWT{cfg: AssertionConfig{MaxSize: maxClaimedAssertion}}, ClientSecretPost()}

// Claimed returns the Identity of a request as (client_id, method). After
// Authenticator.Identify or Authenticate it is their identification;
// before, the same step with the default methods.
func (r *Request) Claimed() (clientID, method string) {
	if r.ident == nil {
		r.ident = identify(r, nil, claimedMethods, true)
	}
	return r.ident.id.ClientID, r.ident.id.Method
}

// identify is the one identification step: exactly one method's
// credentials, the client they claim, and the client_id parameter agreeing
// with them. methods are tried in order; the first one present names the
// Identity even when the request goes on to fail. certOnly: a certificate
// and a client_id alone may authenticate (RFC 8705 §2).
func identify(r *Request, by *Authenticator, methods []Method, certOnly bool) *identification {
	out := &identification{by: by}
	r.issuers = nil
	if by != nil {
		r.issuers = by.issuers
	}
	for _, m := range methods {
		id, present, err := m.Detect(r)
		if !present && err == nil {
			continue
		}
		if out.method != nil {
			// RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
			if out.err == nil {
				out.err = fmt.Errorf("%w: more than one client authentication method (%s, %s)", ErrInvalidRequest, out.method.Name(), m.Name())
			}
			continue
		}
		out.method, out.id, out.err = m, Identity{ClientID: id, Method: m.Name()}, err
	}
	formID := single(r.Form, "client_id")
	switch {
	case out.method == nil:
		// RFC 8705 §2: with mutual TLS the certificate is the credential and
		// client_id the only parameter.
		out.id = Identity{ClientID: formID, Method: ClaimedNone}
		if r.Certificates != nil {
			out.id.Method = ClaimedCertificate
		}
		if r.Certificates == nil || formID == "" || !certOnly {
			out.err = fmt.Errorf("%w: no client authentication", ErrInvalidClient)
		}
	case out.err == nil && formID != "" && formID != out.id.ClientID:
		out.err = fmt.Errorf("%w: client_id parameter %q does not match the authenticated client %q", ErrInvalidClient, formID, out.id.ClientID)
	}
	if out.id.ClientID == "" {
		out.id.ClientID = formID
	}
	if len(out.id.ClientID) > MaxClientIDLen {
		if out.err == nil {
			out.err = fmt.Errorf("%w: client_id too long", ErrInvalidClient)
		}
		out.id.ClientID = ""
	}
	return out
}

// Result is an authenticated client.
type Result struct {
	Client *backends.Client
	Method string
	// Template names the client template the client was synthesized from
	// (backends.ClientEntry.Template); "" for a registered client.
	Template string
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

// WorkloadSource is a ClientSource that also answers for identities no
// backend can hold as a client_id (backends.ValidClientID false: a SPIFFE ID,
// a federated iss#sub): a client template's synthesized client. Without it
// such an id is unknown without asking, so no backend ever sees one.
type WorkloadSource interface {
	ClientSource
	Workload(ctx context.Context, id string) (*backends.ClientEntry, error)
}

// IssuerMethod is a method whose credential is an RFC 7523 §2.2 jwt-bearer
// client assertion issued by a party other than the client (a federated
// issuer). The assertion type is private_key_jwt's too, so the method is
// picked by the assertion's iss: when VerifiesIssuer(iss), private_key_jwt
// reports no credential and this method does — exactly one ever applies
// (RFC 6749 §2.3).
type IssuerMethod interface {
	Method
	VerifiesIssuer(iss string) bool
}

// Resolver is a method that can authenticate a client no registry holds:
// when the claimed id is unknown, Resolve verifies the credentials in full
// and returns the client they resolve to (a client template's, matched on
// the verified claims), or an error.
type Resolver interface {
	Method
	Resolve(ctx context.Context, r *Request) (*backends.ClientEntry, error)
}

// federatedIssuer reports whether one of the identifying Authenticator's
// IssuerMethods verifies assertions from iss.
func (r *Request) federatedIssuer(iss string) bool {
	for _, m := range r.issuers {
		if m.VerifiesIssuer(iss) {
			return true
		}
	}
	return false
}

// Authenticator applies the cross-method rules.
type Authenticator struct {
	clients ClientSource
	// methods are those with credentials of their own in the request, in
	// the order Identify tries them.
	methods []Method
	// certOnly are the methods whose only credential is the certificate
	// (RFC 8705 §2); they apply when no other credential is present.
	certOnly map[string]Method
	names    []string
	dummy    *backends.ClientEntry
	issuers  []IssuerMethod
}

// CertificateMethod marks methods whose credential is the TLS client certificate itself.
type CertificateMethod interface {
	Method
	certificateOnly()
}

// CertificateOnly, embedded in a Method of another package, makes it a
// CertificateMethod: its credential is the TLS client certificate, and the
// Authenticator picks it by the client's registration (RFC 8705 §2).
type CertificateOnly struct{}

func (CertificateOnly) certificateOnly() {}

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
		if im, ok := m.(IssuerMethod); ok {
			a.issuers = append(a.issuers, im)
		}
		if _, ok := m.(CertificateMethod); ok {
			a.certOnly[m.Name()] = m
		} else {
			a.methods = append(a.methods, m)
		}
	}
	// The header before the body, an assertion before a bare secret: the
	// method a request with two of them is counted against.
	slices.SortStableFunc(a.methods, func(x, y Method) int { return identifyRank(x) - identifyRank(y) })
	return a, nil
}

func identifyRank(m Method) int {
	switch m.Name() {
	case backends.AuthClientSecretBasic:
		return 0
	case backends.AuthPrivateKeyJWT:
		return 1
	case backends.AuthClientSecretPost:
		return 2
	}
	return 3
}

// Methods returns the names of the supported methods.
func (a *Authenticator) Methods() []string { return append([]string(nil), a.names...) }

// Identify is the first step of Authenticate, on its own: the client r
// claims to be and the method it uses, verifying nothing and looking
// nothing up. The error says why r cannot authenticate as it is (a
// malformed credential, two methods, none); the Identity is filled even
// then. It is worked out once per request: Authenticate and
// Request.Claimed use the same answer.
func (a *Authenticator) Identify(r *Request) (Identity, error) {
	if r.ident == nil || r.ident.by != a {
		r.ident = identify(r, a, a.methods, len(a.certOnly) > 0)
	}
	return r.ident.id, r.ident.err
}

// Authenticate identifies the client (Identify), loads its record and
// verifies the credentials against it.
func (a *Authenticator) Authenticate(ctx context.Context, r *Request) (*Result, error) {
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	id, err := a.Identify(r)
	if err != nil {
		return nil, err
	}
	clientID, method := id.ClientID, r.ident.method

	e, err := a.lookup(ctx, clientID)
	if rm, ok := method.(Resolver); ok && errors.Is(err, backends.ErrNotFound) {
		// No registered client by that id: the method's own credentials may
		// resolve to a client template's (verified in full by Resolve).
		e, err := rm.Resolve(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrInvalidClient, clientID, err)
		}
		if e.Client.TokenEndpointAuthMethod != method.Name() || e.Client.Disabled {
			return nil, fmt.Errorf("%w: %q resolved to a client of another method", ErrInvalidClient, clientID)
		}
		return &Result{Client: e.Client, Method: method.Name(), Certificate: r.Certificates, Template: e.Template}, nil
	}
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
		if !backends.ValidClientID(clientID) {
			// A workload identity (WorkloadSource): why it resolved to no
			// client — no template, or an ambiguous one — is for the log.
			return nil, fmt.Errorf("%w: unknown client %q: %w", ErrInvalidClient, clientID, err)
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
		r.ident.id.Method = method.Name()
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
	return &Result{Client: c, Method: method.Name(), Certificate: r.Certificates, Template: e.Template}, nil
}

// lookup asks the client source for id. An id no backend can hold
// (backends.ValidClientID: "bad id!", 129–256 bytes) is unknown without
// asking: refused below like any unknown client (same dummy work, same
// body), and never a backend read that could pass for "the backend answered"
// during an outage.
func (a *Authenticator) lookup(ctx context.Context, id string) (*backends.ClientEntry, error) {
	if !backends.ValidClientID(id) {
		// A SPIFFE ID is the identity a SPIFFE method looks up
		// (draft-ietf-oauth-spiffe-client-auth-02 §3.1, §3.2): the client
		// source maps it to a registered client (authn/spiffe.Clients) and,
		// failing that, to a client template's (authn/template.Source.Get);
		// registered clients answer first.
		if isSPIFFEID(id) {
			return a.clients.Get(ctx, id)
		}
		if ws, ok := a.clients.(WorkloadSource); ok && id != "" {
			return ws.Workload(ctx, id)
		}
		return nil, fmt.Errorf("invalid client id: %w", backends.ErrNotFound)
	}
	return a.clients.Get(ctx, id)
}

// isSPIFFEID reports whether id is a well-formed SPIFFE ID (go-spiffe's parser).
func isSPIFFEID(id string) bool {
	if !strings.HasPrefix(id, "spiffe://") {
		return false
	}
	_, err := spiffeid.FromString(id)
	return err == nil
}

// single returns the one value of a form parameter ("" when absent).
// Repeated parameters are rejected earlier, by the broker's form parser.
func single(f url.Values, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
