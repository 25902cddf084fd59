package certs

import (
	"crypto/x509"
	"slices"
	"time"
)

// crlMark is what ordering needs of a verified list (RFC 5280 §5.2.3).
type crlMark struct {
	source string
	list   *x509.RevocationList // Number and ThisUpdate only
}

// offer makes c a pending list of its slot. When the held list's issuer is
// known, c is judged at once; otherwise at the first Check that meets its
// issuer.
func (s *CRLSet) offer(c *crl) {
	s.mu.Lock()
	slot := s.slots[c.slot]
	if slot == nil {
		if len(s.slots) >= maxCRLSlots && !s.evictUnverified() {
			s.mu.Unlock()
			s.log.Warn("CRL: too many issuers; list ignored", "source", c.source, "max", maxCRLSlots)
			return
		}
		slot = &crlSlot{source: c.source}
		s.slots[c.slot] = slot
	}
	if slot.held != nil && slot.held.digest == c.digest {
		s.mu.Unlock()
		return // the list held, again
	}
	for _, p := range slot.pending {
		if p.digest == c.digest {
			s.mu.Unlock()
			return
		}
	}
	if len(slot.pending) >= maxPendingCRLs {
		s.removePending(slot, 0)
	}
	s.seq++
	c.seq = s.seq
	slot.pending = append(slot.pending, c)
	s.pendingBytes += len(c.list.Raw)
	s.trimPending(c)
	var issuer *x509.Certificate
	if slot.held != nil {
		issuer = slot.held.issuer
	}
	s.mu.Unlock()
	if issuer != nil {
		if ok, fresh := s.resolve(slot, c, issuer); !ok && fresh {
			s.log.Warn("CRL not signed by the issuer of the list held; dropped, keeping the held one", "source", c.source)
		}
	}
}

// removePending drops slot.pending[i] (s.mu held).
func (s *CRLSet) removePending(slot *crlSlot, i int) {
	s.pendingBytes -= len(slot.pending[i].list.Raw)
	slot.pending = slices.Delete(slot.pending, i, i+1)
}

// trimPending keeps the unverified lists within maxPendingCRLBytes by
// dropping the oldest loaded, those of c's own source first, never c (s.mu
// held): one source's flood cannot push out another's list before others.
func (s *CRLSet) trimPending(c *crl) {
	for s.pendingBytes > maxPendingCRLBytes {
		var victim *crlSlot
		vi, sameSource := -1, false
		for _, sl := range s.slots {
			for i, p := range sl.pending {
				if p == c {
					continue
				}
				same := p.source == c.source
				if vi < 0 || (same && !sameSource) || (same == sameSource && p.seq < victim.pending[vi].seq) {
					victim, vi, sameSource = sl, i, same
				}
			}
		}
		if vi < 0 {
			return
		}
		s.log.Warn("CRL: unverified lists over the byte budget; oldest dropped", "source", victim.pending[vi].source, "budget", maxPendingCRLBytes)
		s.removePending(victim, vi)
	}
}

// evictUnverified drops one slot that never held a verified list (s.mu held).
func (s *CRLSet) evictUnverified() bool {
	for k, sl := range s.slots {
		if sl.held == nil {
			s.dropSlot(k)
			return true
		}
	}
	return false
}

func (s *CRLSet) dropSlot(k string) {
	sl := s.slots[k]
	for len(sl.pending) > 0 {
		s.removePending(sl, 0)
	}
	delete(s.slots, k)
}

// pruneLocked drops the slots of issuers a source no longer serves (its
// last successful load named others): an unverified one at once (so a
// source has at most one, its current), a held one only when another
// source holds a list of the same issuer at least as new — so an attacker
// on one URL who serves another CA's genuine list there cannot switch off
// the revocations of the URL's own issuer. Ordering marks stay (s.mu held).
func (s *CRLSet) pruneLocked() {
	for k, sl := range s.slots {
		served, known := s.serving[sl.source]
		if !known || slices.Contains(served, k) {
			continue
		}
		if sl.held == nil || s.coveredElsewhere(k, sl.held) {
			s.dropSlot(k)
		}
	}
}

// coveredElsewhere reports whether a slot other than k holds a list by the
// issuer that signed h and not older than h (s.mu held).
func (s *CRLSet) coveredElsewhere(k string, h *crl) bool {
	for k2, sl := range s.slots {
		o := sl.held
		if k2 == k || o == nil || o.issuer == nil || h.issuer == nil {
			continue
		}
		if string(o.issuer.Raw) == string(h.issuer.Raw) && !crlOlder(o.list, h.list) {
			return true
		}
	}
	return false
}

// resolve promotes c, a pending list of slot, to held when issuer signed it
// and it is not older than the newest list this slot ever held; an older
// one is refused, an unsigned one dropped. It reports whether issuer signed
// c, and whether that was decided now rather than remembered.
func (s *CRLSet) resolve(slot *crlSlot, c *crl, issuer *x509.Certificate) (signed, fresh bool) {
	ok, fresh := s.signedBy(c, issuer)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(slot.pending, c)
	if i >= 0 {
		s.removePending(slot, i)
	}
	if !ok || i < 0 {
		return ok, fresh // dropped, or judged meanwhile
	}
	if m, seen := s.marks[c.slot]; seen && crlOlder(c.list, m.list) {
		s.log.Warn("CRL older than the one held refused; keeping the held one (RFC 5280 §5.2.3)", "source", c.source,
			"number", c.list.Number, "this_update", c.list.ThisUpdate, "held_number", m.list.Number, "held_this_update", m.list.ThisUpdate)
		return true, fresh
	}
	c.issuer = issuer
	slot.held = c
	s.marks[c.slot] = crlMark{source: c.source, list: &x509.RevocationList{Number: c.list.Number, ThisUpdate: c.list.ThisUpdate}}
	s.proven[c.source] = true
	s.pruneLocked()
	return true, fresh
}

// crlOlder reports whether a was issued before b: a lower CRL Number
// (RFC 5280 §5.2.3: monotonically increasing per issuer) or, when the
// numbers are equal or either is absent, an earlier thisUpdate.
func crlOlder(a, b *x509.RevocationList) bool {
	if a.Number != nil && b.Number != nil {
		if c := a.Number.Cmp(b.Number); c != 0 {
			return c < 0
		}
	}
	return a.ThisUpdate.Before(b.ThisUpdate)
}

// stale reports whether c is past its nextUpdate plus the grace.
func (s *CRLSet) stale(c *crl, now time.Time) bool {
	next := c.list.NextUpdate
	return !next.IsZero() && now.After(next.Add(s.grace))
}
