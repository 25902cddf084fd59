package tokensource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/oauth2"
)

// SPIFFEAssertionType is the jwt-spiffe client_assertion_type
// (draft-ietf-oauth-spiffe-client-auth-02 §3.1).
const SPIFFEAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe"

// svidExtra names the token extra holding the X.509-SVID leaf the token was
// requested with: the one it is bound to (cnf.x5t#S256).
const svidExtra = "tokensource_svid"

// svidDefaults derives ClientID from the SVID sources when it is not set:
// the SPIFFE ID is the client's identity (§3.1 step 5, §3.2).
func (cfg *Config) svidDefaults() error {
	if cfg.ClientID != "" || (cfg.X509SVIDs == nil && cfg.JWTSVIDs == nil) {
		return nil
	}
	if cfg.X509SVIDs == nil {
		return errors.New("tokensource: ClientID (the workload's SPIFFE ID) is required with JWTSVIDs alone")
	}
	svid, err := cfg.X509SVIDs.GetX509SVID()
	if err != nil {
		return fmt.Errorf("tokensource: X.509-SVID: %w", err)
	}
	cfg.ClientID = svid.ID.String()
	return nil
}

// jwtSVIDForm adds a fresh JWT-SVID for the broker's issuer as the client
// assertion (the SVID provider caches and rotates it).
func (s *Source) jwtSVIDForm(ctx context.Context, form url.Values) error {
	p := jwtsvid.Params{Audience: s.cfg.Audience}
	if id, err := spiffeid.FromString(s.cfg.ClientID); err == nil {
		p.Subject = id
	}
	svid, err := s.cfg.JWTSVIDs.FetchJWTSVID(ctx, p)
	if err != nil {
		return fmt.Errorf("tokensource: JWT-SVID: %w", err)
	}
	form.Set("client_assertion_type", SPIFFEAssertionType)
	form.Set("client_assertion", svid.Marshal())
	return nil
}

// tokenClient is the client of a token request and the X.509-SVID leaf it
// presents (nil without X509SVIDs): each SVID has its own connections, so
// the token is bound to the SVID read here.
func (s *Source) tokenClient() (*http.Client, *x509.Certificate, error) {
	if s.svids == nil {
		return s.http, nil, nil
	}
	svid, err := s.cfg.X509SVIDs.GetX509SVID()
	if err != nil {
		return nil, nil, fmt.Errorf("tokensource: X.509-SVID: %w", err)
	}
	c := *s.http
	c.Transport = s.svids.get(svid)
	return &c, svid.Certificates[0], nil
}

// svidRotated reports whether the workload's X.509-SVID is no longer the
// one tok is bound to: the token is then replaced before the old SVID
// expires, and the API sees the new SVID with a token bound to it.
func (s *Source) svidRotated(tok *oauth2.Token) bool {
	if s.svids == nil {
		return false
	}
	bound, _ := tok.Extra(svidExtra).(*x509.Certificate)
	svid, err := s.cfg.X509SVIDs.GetX509SVID()
	return err == nil && bound != nil && !svid.Certificates[0].Equal(bound)
}

// svidTransports keeps one transport per X.509-SVID (the current and the
// previous one): a connection presents one SVID for its lifetime, so a
// request bound to an SVID must travel on a connection that presented it.
type svidTransports struct {
	tmpl *http.Transport

	mu    sync.Mutex
	byKey map[*x509.Certificate]*http.Transport
	order []*x509.Certificate
}

func newSVIDTransports(tmpl *http.Transport) *svidTransports {
	return &svidTransports{tmpl: tmpl, byKey: map[*x509.Certificate]*http.Transport{}}
}

const keptSVIDTransports = 2

// get returns the transport presenting svid.
func (st *svidTransports) get(svid *x509svid.SVID) *http.Transport {
	return st.forLeaf(svid.Certificates[0], func() tls.Certificate {
		raw := make([][]byte, len(svid.Certificates))
		for i, c := range svid.Certificates {
			raw[i] = c.Raw
		}
		return tls.Certificate{Certificate: raw, PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	})
}

func (st *svidTransports) forLeaf(leaf *x509.Certificate, cert func() tls.Certificate) *http.Transport {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, tr := range st.byKey {
		if k.Equal(leaf) {
			return tr
		}
	}
	if cert == nil {
		return nil
	}
	tr := st.tmpl.Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert()}
	st.byKey[leaf] = tr
	st.order = append(st.order, leaf)
	for len(st.order) > keptSVIDTransports {
		old := st.order[0]
		st.order = st.order[1:]
		st.byKey[old].CloseIdleConnections()
		delete(st.byKey, old)
	}
	return tr
}

// svidRoundTripper sends an API request over the connections of the SVID
// its token is bound to.
type svidRoundTripper struct{ src *Source }

func (rt *svidRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var tr *http.Transport
	if tok := rt.src.cached(); tok != nil && req.Header.Get("Authorization") == "Bearer "+tok.AccessToken {
		if leaf, _ := tok.Extra(svidExtra).(*x509.Certificate); leaf != nil {
			tr = rt.src.svids.forLeaf(leaf, nil)
		}
	}
	if tr == nil {
		svid, err := rt.src.cfg.X509SVIDs.GetX509SVID()
		if err != nil {
			return nil, err
		}
		tr = rt.src.svids.get(svid)
	}
	return tr.RoundTrip(req)
}

// cached is the cached token, due or not.
func (s *Source) cached() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}
