package spiffe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// ParseBundle parses a SPIFFE bundle (SPIFFE Trust Domain and Bundle §4)
// of td with go-spiffe, after bounding its size: the one parser of bundle
// bytes, from a file or an endpoint.
func ParseBundle(td spiffeid.TrustDomain, b []byte, maxSize int64) (*spiffebundle.Bundle, error) {
	if int64(len(b)) > maxSize {
		return nil, fmt.Errorf("bundle larger than %d bytes", maxSize)
	}
	return spiffebundle.Parse(td, b)
}

// readBounded reads at most max bytes from r, failing beyond.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("bundle larger than %d bytes", max)
	}
	return b, nil
}

// fileSource re-reads a bundle file.
type fileSource struct {
	td   spiffeid.TrustDomain
	path string
	max  int64
}

func (s *fileSource) load(context.Context, *spiffebundle.Bundle) (*spiffebundle.Bundle, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readBounded(f, s.max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	bundle, err := ParseBundle(s.td, b, s.max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return bundle, nil
}

func (*fileSource) close() {}

// endpointSource fetches a bundle endpoint (SPIFFE Federation §4-§5).
type endpointSource struct {
	td     spiffeid.TrustDomain
	ep     Endpoint
	max    int64
	client *http.Client

	mu   sync.Mutex
	auth *spiffebundle.Bundle // https_spiffe: the bundle that authenticates the endpoint
}

func newEndpointSource(td spiffeid.TrustDomain, ep Endpoint, o *options) (*endpointSource, error) {
	u, err := url.Parse(ep.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, errors.New("bundle endpoint URL must be an https URL without user information")
	}
	s := &endpointSource{td: td, ep: ep, max: o.maxSize}
	tr := &http.Transport{
		// Operator-configured, never a client's URL; never through an
		// environment proxy, which could stand in for the endpoint.
		Proxy:                 nil,
		TLSHandshakeTimeout:   o.timeout,
		ResponseHeaderTimeout: o.timeout,
		// A new connection, so a new handshake, for every fetch: the
		// endpoint proves its identity each time (an endpoint that changes it
		// is refused at the next refresh, not after an idle timeout).
		DisableKeepAlives: true,
	}
	switch ep.Profile {
	case ProfileWeb:
		// §5.2.1: the endpoint's certificate must verify for the URL's host
		// against the configured (or system) roots: another identity is refused.
		tr.TLSClientConfig = &tls.Config{RootCAs: ep.Roots, MinVersion: tls.VersionTLS12}
	case ProfileSPIFFE:
		if ep.SPIFFEID.IsZero() {
			return nil, errors.New("https_spiffe needs the endpoint's SPIFFE ID")
		}
		if ep.Initial == nil {
			return nil, errors.New("https_spiffe needs an initial bundle of the endpoint's trust domain")
		}
		if ep.Initial.TrustDomain() != ep.SPIFFEID.TrustDomain() {
			return nil, fmt.Errorf("the initial bundle is for %s, the endpoint is in %s", ep.Initial.TrustDomain(), ep.SPIFFEID.TrustDomain())
		}
		s.auth = ep.Initial
		// §5.2.2: the endpoint presents an X.509-SVID with exactly the
		// configured SPIFFE ID, verified with go-spiffe against the current
		// bundle of its trust domain: another identity is refused.
		tr.TLSClientConfig = tlsconfig.TLSClientConfig(authSource{s}, tlsconfig.AuthorizeID(ep.SPIFFEID))
		tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	default:
		return nil, fmt.Errorf("bundle endpoint profile %q is not %s or %s", ep.Profile, ProfileWeb, ProfileSPIFFE)
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   o.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("bundle endpoint redirected") // SPIFFE Federation §4.1: served at the configured URL
		},
	}
	return s, nil
}

// authSource is the x509bundle.Source of an https_spiffe endpoint's certificate.
type authSource struct{ s *endpointSource }

func (a authSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	return a.s.authBundle(td)
}

// authBundle is the bundle an https_spiffe endpoint's certificate is verified with.
func (s *endpointSource) authBundle(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auth == nil || td != s.auth.TrustDomain() {
		return nil, fmt.Errorf("no bundle to authenticate an endpoint in %s", td)
	}
	return s.auth.X509Bundle(), nil
}

func (s *endpointSource) load(ctx context.Context, prev *spiffebundle.Bundle) (*spiffebundle.Bundle, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ep.URL, http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bundle endpoint answered %s", resp.Status)
	}
	b, err := readBounded(resp.Body, s.max)
	if err != nil {
		return nil, err
	}
	bundle, err := ParseBundle(s.td, b, s.max)
	if err != nil {
		return nil, err
	}
	if seq, ok := bundle.SequenceNumber(); ok && prev != nil {
		if old, ok := prev.SequenceNumber(); ok && seq < old {
			// SPIFFE Trust Domain and Bundle §4.1.2: the sequence only grows;
			// an older bundle is a replay of one already superseded.
			return nil, fmt.Errorf("bundle spiffe_sequence %d is older than the current %d", seq, old)
		}
	}
	if s.ep.Profile == ProfileSPIFFE && s.td == s.ep.SPIFFEID.TrustDomain() {
		// The endpoint's own trust domain: its next certificate is verified
		// with the bundle it just served (§5.2.2 "subsequent updates").
		s.mu.Lock()
		s.auth = bundle
		s.mu.Unlock()
	}
	return bundle, nil
}

func (s *endpointSource) close() { s.client.CloseIdleConnections() }

// workloadSource streams bundles from the SPIFFE Workload API: the broker is
// a workload of that trust domain (draft-ietf-oauth-spiffe-client-auth-02
// §6.2.1 discusses why this is the less portable choice).
type workloadSource struct {
	td   spiffeid.TrustDomain
	addr string

	mu  sync.Mutex
	src *workloadapi.BundleSource
}

func newWorkloadSource(_ context.Context, td spiffeid.TrustDomain, addr string) (*workloadSource, error) {
	if err := workloadapi.ValidateAddress(addr); err != nil {
		return nil, fmt.Errorf("workload API address: %w", err)
	}
	return &workloadSource{td: td, addr: addr}, nil
}

func (s *workloadSource) source(ctx context.Context) (*workloadapi.BundleSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		// Blocks until the first update or ctx (bounded by the fetch timeout);
		// then go-spiffe keeps the stream up, reconnecting with backoff.
		src, err := workloadapi.NewBundleSource(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(s.addr)))
		if err != nil {
			return nil, err
		}
		s.src = src
	}
	return s.src, nil
}

func (s *workloadSource) load(ctx context.Context, _ *spiffebundle.Bundle) (*spiffebundle.Bundle, error) {
	src, err := s.source(ctx)
	if err != nil {
		return nil, err
	}
	return src.GetBundleForTrustDomain(s.td)
}

// current is the newest streamed bundle.
func (s *workloadSource) current() (*spiffebundle.Bundle, bool) {
	s.mu.Lock()
	src := s.src
	s.mu.Unlock()
	if src == nil {
		return nil, false
	}
	b, err := src.GetBundleForTrustDomain(s.td)
	return b, err == nil
}

func (s *workloadSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src != nil {
		s.src.Close()
	}
}
