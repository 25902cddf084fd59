package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"time"
)

// Check returns ErrRevoked when any certificate of the verified chain (leaf
// … anchor) appears on a CRL signed by its issuer; when the set fails
// closed, ErrStaleCRL when the newest such CRL (over all sources) is stale,
// and ErrNoCRL while a configured source has never produced a usable list.
func (s *CRLSet) Check(chain []*x509.Certificate) error {
	if s == nil {
		return nil
	}
	now := s.now()
	for i := 0; i+1 < len(chain); i++ {
		if err := s.checkOne(chain[i], chain[i+1], now); err != nil {
			return err
		}
	}
	if s.failClosed {
		if src := s.unproven(); src != "" {
			if _, seen := s.noCRLWarn.LoadOrStore(src, true); !seen {
				s.log.Warn("CRL source has produced no list that verifies; certificates refused (the CRL set fails closed)", "source", src)
			}
			return fmt.Errorf("%w: %s", ErrNoCRL, src)
		}
	}
	return nil
}

// checkOne checks cert against every list held for issuer; staleness is
// judged on the newest of them, so an expired list of issuer replayed on
// another CA's source does not lock out issuer while its own is fresh.
func (s *CRLSet) checkOne(cert, issuer *x509.Certificate, now time.Time) error {
	var newest *crl
	for _, slot := range s.slotsOf(issuer) {
		s.mu.RLock()
		pending := append([]*crl(nil), slot.pending...)
		s.mu.RUnlock()
		for _, p := range pending {
			if !forIssuer(p, issuer) {
				continue // the same name, another key: not this CA's list
			}
			if ok, fresh := s.resolve(slot, p, issuer); !ok && fresh {
				s.log.Warn("CRL not signed by the issuer it names; dropped", "source", p.source, "issuer", issuer.Subject.String())
			}
		}
		s.mu.RLock()
		c := slot.held
		s.mu.RUnlock()
		if c == nil || !bytes.Equal(c.list.RawIssuer, issuer.RawSubject) {
			continue
		}
		if ok, _ := s.signedBy(c, issuer); !ok {
			continue
		}
		if c.revoked[cert.SerialNumber.String()] {
			return fmt.Errorf("%w: serial %s on %s", ErrRevoked, cert.SerialNumber, c.source)
		}
		if newest == nil || crlOlder(newest.list, c.list) {
			newest = c
		}
	}
	if newest == nil || !s.stale(newest, now) {
		return nil
	}
	next := newest.list.NextUpdate
	if s.failClosed {
		return fmt.Errorf("%w: the newest CRL of %q, from %s, was due at %s (grace %s)", ErrStaleCRL,
			issuer.Subject.CommonName, newest.source, next.UTC().Format(time.RFC3339), s.grace)
	}
	if !newest.staleWarned.Swap(true) {
		s.log.Warn("CRL stale; certificates of its issuer still accepted (the CRL set fails open)",
			"source", newest.source, "issuer", issuer.Subject.String(), "next_update", next)
	}
	return nil
}

// forIssuer reports whether c names issuer: its subject, and its key id
// when both carry one (RFC 5280 §5.2.1).
func forIssuer(c *crl, issuer *x509.Certificate) bool {
	if !bytes.Equal(c.list.RawIssuer, issuer.RawSubject) {
		return false
	}
	aki, ski := c.list.AuthorityKeyId, issuer.SubjectKeyId
	return len(aki) == 0 || len(ski) == 0 || bytes.Equal(aki, ski)
}

// slotsOf returns the slots holding lists named for issuer.
func (s *CRLSet) slotsOf(issuer *x509.Certificate) []*crlSlot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*crlSlot
	for _, sl := range s.slots {
		c := sl.held
		if c == nil && len(sl.pending) > 0 {
			c = sl.pending[0]
		}
		// A slot's lists all carry the issuer name it is keyed by.
		if c != nil && bytes.Equal(c.list.RawIssuer, issuer.RawSubject) {
			out = append(out, sl)
		}
	}
	return out
}

// unproven returns a configured source that has produced no list that
// verified and holds none still to be judged, or "". Once every source has
// verified a list this costs no scan of the slots.
func (s *CRLSet) unproven() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, srcs := range [][]string{s.files, s.urls} {
		for _, src := range srcs {
			if !s.proven[src] && !s.waiting(src) {
				return src
			}
		}
	}
	return ""
}

// waiting reports whether src has a list not judged yet (s.mu held).
func (s *CRLSet) waiting(src string) bool {
	for _, sl := range s.slots {
		if sl.source == src && len(sl.pending) > 0 {
			return true
		}
	}
	return false
}

// signedBy memoizes CRL signature checks: one verification per (CRL,
// issuer), keyed by the digest taken at parse. fresh reports a verification
// done now rather than remembered.
func (s *CRLSet) signedBy(c *crl, issuer *x509.Certificate) (ok, fresh bool) {
	b := sha256.Sum256(issuer.Raw)
	key := string(c.digest[:]) + string(b[:])
	if v, hit := s.verified.Load(key); hit {
		return v.(bool), false
	}
	ok = c.list.CheckSignatureFrom(issuer) == nil
	if s.memoSize.Add(1) > maxVerifyMemo {
		s.verified.Clear() // bounded; the lists in use are verified again once
		s.memoSize.Store(1)
	}
	s.verified.Store(key, ok)
	return ok, true
}
