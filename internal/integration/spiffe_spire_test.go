package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiretest"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// spireEnv is a real SPIRE whose agent serves this test process (selector
// unix:uid:<our uid>) two identities, one registered for each method, and a
// broker trusting the SPIRE trust domain through source.
type spireEnv struct {
	*env
	spire         *spiretest.SPIRE
	tds           *spiffe.TrustDomains
	x509ID, jwtID spiffeid.ID
	x509Src       *workloadapi.X509Source
	jwtSrc        *workloadapi.JWTSource
	// lastKID is the kid of the last JWT-SVID presented.
	lastKID atomic.Value
}

func newSPIREEnv(t *testing.T, viaWorkloadAPI bool, opts ...spiretest.Option) *spireEnv {
	t.Helper()
	s := spiretest.Start(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	se := &spireEnv{spire: s, x509ID: spiffeid.RequireFromPath(s.TD, "/workload/x509"), jwtID: spiffeid.RequireFromPath(s.TD, "/workload/jwt")}
	sel := fmt.Sprintf("unix:uid:%d", os.Getuid())
	s.CreateEntry(t, se.x509ID.String(), sel, time.Minute)
	s.CreateEntry(t, se.jwtID.String(), sel, time.Minute)
	client := workloadapi.WithClientOptions(workloadapi.WithAddr(s.WorkloadAPI()))
	// The agent learns the entries at its next sync: wait until it serves both.
	testkit.WaitFor(t, "the agent to serve both SVIDs", func() bool {
		c, err := workloadapi.New(ctx, workloadapi.WithAddr(s.WorkloadAPI()))
		if err != nil {
			return false
		}
		defer c.Close()
		svids, err := c.FetchX509SVIDs(ctx)
		return err == nil && len(svids) == 2
	})
	var err error
	se.x509Src, err = workloadapi.NewX509Source(ctx, client, workloadapi.WithDefaultX509SVIDPicker(func(s []*x509svid.SVID) *x509svid.SVID {
		for _, v := range s {
			if v.ID == se.x509ID {
				return v
			}
		}
		return s[0]
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { se.x509Src.Close() })
	se.jwtSrc, err = workloadapi.NewJWTSource(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { se.jwtSrc.Close() })
	d := spiffe.Domain{TrustDomain: s.TD}
	if viaWorkloadAPI {
		d.WorkloadAPI = s.WorkloadAPI()
	} else {
		initial, err := s.Bundle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Endpoint = &spiffe.Endpoint{URL: s.BundleEndpointURL(), Profile: spiffe.ProfileSPIFFE, SPIFFEID: s.ServerID, Initial: initial}
	}
	se.tds, err = spiffe.New(ctx, []spiffe.Domain{d}, spiffe.WithRefresh(time.Second, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { se.tds.Close() })
	se.env = newEnv(t, withSPIFFE(se.tds))
	for id, m := range map[spiffeid.ID]string{se.x509ID: backends.AuthSPIFFEX509, se.jwtID: backends.AuthSPIFFEJWT} {
		key, _ := spiffe.ClientKey(id)
		se.client(&backends.Client{ClientID: key, TokenEndpointAuthMethod: m, Scope: "read"})
	}
	return se
}

// svidClient is an HTTP client presenting the source's current X.509-SVID
// on every new connection (keep-alives off: every request a handshake).
func (se *spireEnv) svidClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(se.ca.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		s, err := se.x509Src.GetX509SVID()
		if err != nil {
			return nil, err
		}
		return &tls.Certificate{Certificate: rawChain(s.Certificates), PrivateKey: s.PrivateKey, Leaf: s.Certificates[0]}, nil
	}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

func rawChain(cs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

// x509Token gets a token with the current X.509-SVID and checks its binding.
func (se *spireEnv) x509Token(c *http.Client) error {
	svid, err := se.x509Src.GetX509SVID()
	if err != nil {
		return err
	}
	resp, b := se.postVia(c, se.issuer, x509Form(se.x509ID.String()), nil)
	if resp.StatusCode != 200 {
		return fmt.Errorf("X.509-SVID: %d %v", resp.StatusCode, b)
	}
	claims, _ := se.verify(b["access_token"].(string))
	if claims.Cnf == nil {
		return fmt.Errorf("unbound token")
	}
	// The SVID may have rotated between reading it and the handshake: the
	// binding is to one of the two.
	if now, _ := se.x509Src.GetX509SVID(); claims.Cnf.X5tS256 != certs.Thumbprint(svid.Certificates[0]) && claims.Cnf.X5tS256 != certs.Thumbprint(now.Certificates[0]) {
		return fmt.Errorf("token bound to %s, not to the SVID", claims.Cnf.X5tS256)
	}
	return nil
}

// jwtToken gets a token with a JWT-SVID for the broker's issuer.
func (se *spireEnv) jwtToken(ctx context.Context) error {
	svid, err := se.jwtSrc.FetchJWTSVID(ctx, jwtsvid.Params{Audience: se.issuer, Subject: se.jwtID})
	if err != nil {
		return err
	}
	if tok, err := jwt.ParseSigned(svid.Marshal(), []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.ES384, jose.PS256}); err == nil {
		se.lastKID.Store(tok.Headers[0].KeyID)
	}
	resp, b := se.post(jwtForm(svid.Marshal()), nil)
	if resp.StatusCode != 200 {
		return fmt.Errorf("JWT-SVID: %d %v", resp.StatusCode, b)
	}
	return nil
}

// TestSPIREWorkloadAPI: a workload gets tokens with the X.509-SVID and the
// JWT-SVID a real SPIRE issued it; the broker reads the bundle from the
// Workload API.
func TestSPIREWorkloadAPI(t *testing.T) {
	se := newSPIREEnv(t, true)
	ctx := context.Background()
	if err := se.x509Token(se.svidClient()); err != nil {
		t.Fatal(err)
	}
	if err := se.jwtToken(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSPIREBundleEndpoint: the same, the broker reading the bundle from
// SPIRE's bundle endpoint (https_spiffe profile, authenticated by the
// server's own SVID).
func TestSPIREBundleEndpoint(t *testing.T) {
	se := newSPIREEnv(t, false)
	ctx := context.Background()
	if err := se.x509Token(se.svidClient()); err != nil {
		t.Fatal(err)
	}
	if err := se.jwtToken(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSPIRERotationUnderLoad: minute-long SVIDs and a rotation of the X.509
// CA and of the JWT authority while a workload keeps getting tokens: no
// request fails. The loop runs until the workload has presented a rotated
// SVID signed by the new CA and a JWT-SVID signed by the new key.
func TestSPIRERotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of load")
	}
	se := newSPIREEnv(t, true, spiretest.TTLs(10*time.Minute, time.Minute, time.Minute))
	ctx := context.Background()
	first, err := se.x509Src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	firstCA := string(first.Certificates[0].AuthorityKeyId)
	if err := se.jwtToken(ctx); err != nil {
		t.Fatal(err)
	}
	firstKID := se.lastKID.Load()
	// The client kit on the same rotating X.509-SVID, calling a
	// certificate-bound API: its bound tokens keep working across rotation.
	pool := x509.NewCertPool()
	pool.AddCert(se.ca.Cert)
	kit, err := tokensource.New(tokensource.Config{TokenURL: se.issuer + broker.PathToken, X509SVIDs: se.x509Src, RootCAs: pool, Resources: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	api := boundAPI(t, se.env)
	apiClient := kit.Client()
	callAPI := func() error {
		resp, err := apiClient.Get(api + "/orders")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("API: %d %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		return nil
	}
	var requests, failures atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	var lastErr atomic.Value
	go func() {
		defer close(done)
		c := se.svidClient()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, f := range []func() error{func() error { return se.x509Token(c) }, func() error { return se.jwtToken(ctx) }, callAPI} {
				requests.Add(1)
				if err := f(); err != nil {
					failures.Add(1)
					lastErr.Store(err.Error())
				}
			}
		}
	}()
	// The operator's rotation: prepare, wait until the broker's bundle holds
	// the new authorities, activate (spire-server localauthority).
	before, _ := se.tds.Bundle(se.spire.TD)
	nX509, nJWT := len(before.X509Authorities()), len(before.JWTAuthorities())
	for _, kind := range []string{"x509", "jwt"} {
		if _, err := se.spire.Server(ctx, "localauthority", kind, "prepare"); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "the prepared authorities in the broker's bundle", func() bool {
		b, _ := se.tds.Bundle(se.spire.TD)
		return len(b.X509Authorities()) > nX509 && len(b.JWTAuthorities()) > nJWT
	})
	if err := activatePrepared(ctx, se.spire); err != nil {
		t.Fatal(err)
	}
	// Until the agent hands out an SVID of the new CA (at the latest at half
	// the SVID's minute), and a while after.
	if err := testkit.Poll(3*time.Minute, func() bool {
		s, err := se.x509Src.GetX509SVID()
		return err == nil && string(s.Certificates[0].AuthorityKeyId) != firstCA
	}); err != nil {
		t.Fatal("no SVID of the new CA within 3 minutes")
	}
	if err := testkit.Poll(3*time.Minute, func() bool { return se.lastKID.Load() != firstKID }); err != nil {
		t.Fatal("no JWT-SVID of the new JWT authority within 3 minutes")
	}
	n := requests.Load()
	testkit.WaitFor(t, "more requests with the rotated SVID", func() bool { return requests.Load() > n+20 })
	close(stop)
	<-done
	// The no-secret-in-the-log check at cleanup scans the log for every
	// token handed out: a sample of the loop's is enough (and linear).
	if n := len(se.handedOut); n > 200 {
		se.handedOut = se.handedOut[n-200:]
	}
	t.Logf("%d requests across the SVID and CA rotation, %d failed", requests.Load(), failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed; last: %v", failures.Load(), requests.Load(), lastErr.Load())
	}
}

// activatePrepared activates the prepared X.509 and JWT authorities.
func activatePrepared(ctx context.Context, s *spiretest.SPIRE) error {
	for _, kind := range []string{"x509", "jwt"} {
		if err := s.ActivatePrepared(ctx, kind); err != nil {
			return err
		}
	}
	return nil
}
