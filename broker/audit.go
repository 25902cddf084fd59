package broker

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// AuditEvent is one line of the audit trail: who got which token, who failed.
// It never holds a secret, an assertion or a token — tokens appear by jti.
type AuditEvent struct {
	Time           time.Time `json:"time"`
	Event          string    `json:"event"` // token_issued, token_refused, token_revoked
	RequestID      string    `json:"request_id"`
	ClientID       string    `json:"client_id,omitempty"`
	Method         string    `json:"auth_method,omitempty"`
	CertSubject    string    `json:"cert_subject,omitempty"`
	CertThumbprint string    `json:"cert_thumbprint,omitempty"`
	Scope          string    `json:"scope,omitempty"`
	Audience       []string  `json:"aud,omitempty"`
	JTI            string    `json:"jti,omitempty"`
	Outcome        string    `json:"outcome"` // success or the OAuth error code
	Reason         string    `json:"reason,omitempty"`
	Source         string    `json:"source"`         // the client's address (forwarded by a trusted proxy, else the TCP peer)
	Peer           string    `json:"peer,omitempty"` // the TCP peer, when a trusted proxy forwarded another address
	// Prev is the hex SHA-256 of the previous line (tamper-evident mode).
	Prev string `json:"prev,omitempty"`
}

// Auditor writes one JSON line per event. In chained mode each line carries
// the hash of the line before it, so editing or deleting a line breaks the
// chain at that point ("tokenbroker audit verify").
type Auditor struct {
	mu    sync.Mutex
	w     io.Writer
	chain bool
	prev  string
}

// chainGenesis is the prev of the first line.
const chainGenesis = "genesis"

// NewAuditor writes to w; with chain set, lines are hash-chained starting
// after prev ("" for a new trail; LastAuditHash of an existing file to continue it).
func NewAuditor(w io.Writer, chain bool, prev string) *Auditor {
	if prev == "" {
		prev = chainGenesis
	}
	return &Auditor{w: w, chain: chain, prev: prev}
}

// Record writes ev.
func (a *Auditor) Record(ev AuditEvent) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chain {
		ev.Prev = a.prev
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := a.w.Write(b); err != nil {
		return err
	}
	sum := sha256.Sum256(bytes.TrimSuffix(b, []byte("\n")))
	a.prev = hex.EncodeToString(sum[:])
	return nil
}

// LastAuditHash returns the hash to continue a chained trail from (the hash of its last line).
func LastAuditHash(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	last := ""
	for sc.Scan() {
		if l := sc.Bytes(); len(bytes.TrimSpace(l)) > 0 {
			sum := sha256.Sum256(l)
			last = hex.EncodeToString(sum[:])
		}
	}
	return last, sc.Err()
}

// VerifyAuditChain checks a chained trail and returns the number of lines
// and the first broken line (0 when the chain is intact). start is the hash
// the first line must follow: "" for a trail that began with this file, the
// last hash of the previous file for a rotated one.
func VerifyAuditChain(r io.Reader, start string) (lines, broken int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prev := start
	if prev == "" {
		prev = chainGenesis
	}
	for sc.Scan() {
		l := sc.Bytes()
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		lines++
		var ev struct {
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(l, &ev); err != nil {
			return lines, lines, fmt.Errorf("line %d: not JSON", lines)
		}
		if ev.Prev != prev {
			return lines, lines, nil
		}
		sum := sha256.Sum256(l)
		prev = hex.EncodeToString(sum[:])
	}
	return lines, 0, sc.Err()
}
