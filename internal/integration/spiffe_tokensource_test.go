package integration_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/broker"
)

// rotatingSVID is an x509svid.Source whose SVID the test rotates, as the
// Workload API rotates a workload's.
type rotatingSVID struct {
	mu   sync.Mutex
	svid *x509svid.SVID
}

func (r *rotatingSVID) GetX509SVID() (*x509svid.SVID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.svid, nil
}

func (r *rotatingSVID) rotate(t *testing.T, ca *spiffetest.CA, id spiffeid.ID) {
	t.Helper()
	c, err := ca.X509SVID(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.svid = &x509svid.SVID{ID: id, Certificates: []*x509.Certificate{c.Leaf}, PrivateKey: c.PrivateKey.(crypto.Signer)}
	r.mu.Unlock()
}

// jwtSVIDs is a jwtsvid source minting JWT-SVIDs from a spiffetest CA.
type jwtSVIDs struct {
	ca *spiffetest.CA
	id spiffeid.ID
}

func (j jwtSVIDs) FetchJWTSVID(_ context.Context, p jwtsvid.Params) (*jwtsvid.SVID, error) {
	tok, err := j.ca.JWTSVID(j.id, []string{p.Audience}, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return jwtsvid.ParseInsecure(tok, []string{p.Audience})
}

// boundAPI is an API over TLS that requests client certificates and
// accepts the broker's certificate-bound tokens (authn/resource).
func boundAPI(t *testing.T, e *env) string {
	t.Helper()
	v, err := resource.New(context.Background(), resource.Config{Issuer: e.issuer, Audience: audience,
		HTTPClient: e.http, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = broker.Serve(ctx, ln, broker.TLSConfig(broker.StaticCertificate(e.serverCert), false),
			v.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })), slog.New(slog.DiscardHandler))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String()
}

// TestSPIFFETokenSource: the client kit gets tokens with a rotating
// X.509-SVID, or a JWT-SVID over it, and calls a certificate-bound API; after
// the SVID rotates, the next call carries a token bound to the new SVID.
func TestSPIFFETokenSource(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	api := boundAPI(t, se.env)
	pool := x509.NewCertPool()
	pool.AddCert(se.ca.Cert)
	for _, tc := range []struct {
		name string
		cfg  func(*rotatingSVID) tokensource.Config
	}{
		{"X.509-SVID", func(r *rotatingSVID) tokensource.Config {
			return tokensource.Config{X509SVIDs: r}
		}},
		{"JWT-SVID over the X.509-SVID", func(r *rotatingSVID) tokensource.Config {
			return tokensource.Config{X509SVIDs: r, JWTSVIDs: jwtSVIDs{se.a, se.jwtID}, ClientID: se.jwtID.String(), Audience: se.issuer}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := se.x509ID
			if tc.name != "X.509-SVID" {
				id = se.jwtID
			}
			svids := &rotatingSVID{}
			svids.rotate(t, se.a, id)
			cfg := tc.cfg(svids)
			cfg.TokenURL, cfg.RootCAs, cfg.Resources = se.issuer+broker.PathToken, pool, []string{audience}
			src, err := tokensource.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := src.Client()
			var last string
			for i := range 4 {
				resp, err := c.Get(api + "/orders")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("call %d: %d %s\n%s", i, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), se.logs.String())
				}
				tok, _ := src.Token()
				if tok.AccessToken == last {
					t.Fatalf("call %d: the token of the previous SVID is still used", i)
				}
				last = tok.AccessToken
				svids.rotate(t, se.a, id)
			}
		})
	}
}
