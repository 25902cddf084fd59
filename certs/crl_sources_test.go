package certs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// Lists of two CAs on two URLs: staleness is judged on the newest list of
// an issuer over all sources, and another CA's genuine list served on a
// CA's URL neither locks out that other CA nor drops the URL's own
// revocations.
func TestCRLListsAcrossSources(t *testing.T) {
	caA, _ := certs.NewCA("CA A", 48*time.Hour)
	caB, _ := certs.NewCA("CA B", 48*time.Hour)
	leafA := issue(t, caA, certs.Leaf{CommonName: "a-client", Client: true})
	leafB := issue(t, caB, certs.Leaf{CommonName: "b-client", Client: true})
	chainA := []*x509.Certificate{leafA, caA.Cert}
	chainB := []*x509.Certificate{leafB, caB.Cert}
	now := time.Now()
	revokingA := signedCRL(t, caA, 10, now.Add(-time.Hour), now.Add(24*time.Hour), leafA.SerialNumber)
	expiredB := signedCRL(t, caB, 3, now.Add(-7*24*time.Hour), now.Add(-6*24*time.Hour))
	freshB := signedCRL(t, caB, 10, now.Add(-time.Hour), now.Add(24*time.Hour))
	for _, tc := range []struct {
		name      string
		afterURLA [][]byte // what urlA serves next, a Check of both chains after each
	}{
		{"expired list of B on A's URL, held", [][]byte{expiredB}},
		{"expired list of B on A's URL, then A's again", [][]byte{expiredB, revokingA}},
		{"B's list on A's URL, then an older list of A replayed", [][]byte{freshB, signedCRL(t, caA, 9, now.Add(-2*time.Hour), now.Add(24*time.Hour))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			urlA := newMutableURL(t, revokingA)
			urlB := newMutableURL(t, freshB)
			set, err := certs.NewCRLSet(t.Context(), nil, []string{urlA.URL, urlB.URL}, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			check := func(when string) {
				t.Helper()
				if err := set.Check(chainB); err != nil {
					t.Fatalf("%s: CA B refused: %v", when, err)
				}
				if err := set.Check(chainA); !errors.Is(err, certs.ErrRevoked) {
					t.Fatalf("%s: A's revocation lost: %v", when, err)
				}
			}
			check("before")
			for _, b := range tc.afterURLA {
				urlA.put(b)
				refetch(t, set)
				check("after a refetch")
			}
			next, err := certs.NewCRLSet(t.Context(), nil, []string{urlA.URL, urlB.URL}, 0, nil, certs.CRLInherit(set))
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			set = next
			check("after a reload")
		})
	}
}

// A list that names the CA but fails its signature check is dropped and
// logged once, however often it is served again; a source that never
// produced a usable list (forged only, or never fetched) refuses every
// certificate when failing closed, and none with CRLFailClosed(false).
func TestCRLSourceWithoutUsableList(t *testing.T) {
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "client", Client: true})
	chain := []*x509.Certificate{leaf, ca.Cert}
	now := time.Now()
	forged := forgedCRL(t, ca.Cert.Subject, ca.Cert.SubjectKeyId, 64, 99)
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	}))
	defer notFound.Close()
	t.Run("forged only", func(t *testing.T) {
		var logs bytes.Buffer
		u := newMutableURL(t, forged)
		set, err := certs.NewCRLSet(t.Context(), nil, []string{u.URL}, 0, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		for range 3 {
			if err := set.Check(chain); !errors.Is(err, certs.ErrNoCRL) {
				t.Fatalf("forged list only, failing closed: %v", err)
			}
			refetch(t, set)
		}
		if n := strings.Count(logs.String(), "not signed by the issuer"); n != 1 {
			t.Fatalf("forged list logged %d times, want once:\n%s", n, logs.String())
		}
		u.put(signedCRL(t, ca, 1, now.Add(-time.Minute), now.Add(time.Hour)))
		refetch(t, set)
		if err := set.Check(chain); err != nil {
			t.Fatalf("the genuine list served at last: %v", err)
		}
	})
	t.Run("never fetched, failing open", func(t *testing.T) {
		set, err := certs.NewCRLSet(t.Context(), nil, []string{notFound.URL}, 0, nil, certs.CRLFailClosed(false))
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		if err := set.Check(chain); err != nil {
			t.Fatalf("crl_fail_closed off: %v", err)
		}
	})
	t.Run("never fetched, then served", func(t *testing.T) {
		u := newMutableURL(t, nil)
		set, err := certs.NewCRLSet(t.Context(), nil, []string{u.URL, notFound.URL}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		if err := set.Check(chain); !errors.Is(err, certs.ErrNoCRL) {
			t.Fatalf("nothing loaded: %v", err)
		}
		u.put(signedCRL(t, ca, 1, now.Add(-time.Minute), now.Add(time.Hour)))
		refetch(t, set)
		if err := set.Check(chain); !errors.Is(err, certs.ErrNoCRL) {
			t.Fatalf("one source of two loaded: %v", err)
		}
	})
}

// A genuine multi-MB CRL held for the issuer costs a Check no more than a
// small one: its signature is verified once, and the memo is keyed by the
// digest taken at parse, not by hashing the list again (review 2, finding 12).
func TestCRLLargeHeldListCheapPerCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an 8 MiB CRL")
	}
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "client", Client: true})
	chain := []*x509.Certificate{leaf, ca.Cert}
	now := time.Now()
	pad, _ := asn1.Marshal(make([]byte, 8<<20))
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour), ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 2}, Value: pad}}}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	small := newMutableURL(t, signedCRL(t, ca, 1, now.Add(-time.Minute), now.Add(time.Hour)))
	large := newMutableURL(t, der)
	var per [2]time.Duration
	for i, u := range []*mutableURL{small, large} {
		set, err := certs.NewCRLSet(t.Context(), nil, []string{u.URL}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer set.Close()
		if err := set.Check(chain); err != nil {
			t.Fatal(err)
		}
		per[i] = avgCheck(set, chain, 200)
	}
	t.Logf("Check: %v with a small CRL, %v with an 8 MiB one", per[0], per[1])
	if per[1] > 100*time.Microsecond && per[1] > 10*per[0] {
		t.Fatalf("an 8 MiB CRL costs %v per Check (small: %v)", per[1], per[0])
	}
}
