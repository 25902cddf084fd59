package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tokenbroker/tokenbroker/internal/jsonappend"
)

// Event is one line of the audit trail: who got which token, who failed.
// It never holds a secret, an assertion or a token — tokens appear by jti.
type Event struct {
	Time           time.Time `json:"time"`
	Event          string    `json:"event"` // one of the Event… names
	RequestID      string    `json:"request_id"`
	ClientID       string    `json:"client_id,omitempty"`
	Method         string    `json:"auth_method,omitempty"`
	CertSubject    string    `json:"cert_subject,omitempty"`
	CertThumbprint string    `json:"cert_thumbprint,omitempty"`
	// Template names the client template a workload identity (ClientID)
	// was granted through; empty for registered clients.
	Template string   `json:"template,omitempty"`
	Scope    string   `json:"scope,omitempty"`
	Audience []string `json:"aud,omitempty"`
	JTI      string   `json:"jti,omitempty"`
	Outcome  string   `json:"outcome"` // success or the OAuth error code
	Reason   string   `json:"reason,omitempty"`
	Source   string   `json:"source"`         // the client's address (forwarded by a trusted proxy, else the TCP peer)
	Peer     string   `json:"peer,omitempty"` // the TCP peer, when a trusted proxy forwarded another address
	// Truncated is set when a field was cut to keep the line bounded.
	Truncated bool `json:"truncated,omitempty"`
	// Offset is, on a trail_opened line, the size in bytes of the file the
	// writer found and continues: the byte at which this line starts.
	Offset int64 `json:"offset,omitempty"`
	// Prev is the hex SHA-256 of the previous line (tamper-evident mode).
	Prev string `json:"prev,omitempty"`
}

// Event names (Event.Event), besides the trail's own brackets
// (EventTrailOpened, EventTrailClosed).
const (
	EventTokenIssued          = "token_issued"
	EventTokenRefused         = "token_refused"
	EventTokenRevoked         = "token_revoked"
	EventIntrospectionRefused = "introspection_refused"
	EventRevocationRefused    = "revocation_refused"
	EventClientRegistered     = "client_registered" // RFC 7591
	EventClientUpdated        = "client_updated"    // RFC 7592
	EventClientDeleted        = "client_deleted"    // RFC 7592
	EventSecretRotated        = "secret_rotated"
)

// Audit line bounds: attacker-supplied values (client_id, parameter names in
// reasons, scopes, certificate subjects …) are cut to MaxField bytes,
// marked with "…", and no line is longer than MaxLine bytes, newline
// included, whatever JSON escaping does to the values.
const (
	MaxField = 256
	MaxLine  = 8 << 10
)

// Trail writes one JSON line per event. In chained mode each line carries
// the hash of the line before it, so editing or deleting a line breaks the
// chain at that point ("tokenbroker audit verify"). With a chain key each
// line also ends with "mac", an HMAC-SHA-256 of the line under the key, so
// that no one without the key can rewrite a line — the last one included —
// and recompute the chain. A file writer calls Open after New, so
// that its time in the file is bracketed by trail_opened and trail_closed
// (see EventTrailOpened).
type Trail struct {
	mu     sync.Mutex
	w      io.Writer
	chain  bool
	key    []byte
	prev   string
	closed bool
	// opened is set by Open: Rotate and Close then bracket the file with
	// trail_closed (and trail_opened in the next one).
	opened bool
}

// chainGenesis is the prev of the first line.
const chainGenesis = "genesis"

// MinKeyLen is the shortest chain key accepted (256 bits).
const MinKeyLen = 32

// Option configures a Trail.
type Option func(*Trail)

// WithChainKey keys the chain (implies chained mode): every line carries an
// HMAC-SHA-256 of itself under key, which must be at least MinKeyLen
// bytes. Verify with VerifyChain and the same key.
func WithChainKey(key []byte) Option {
	return func(a *Trail) { a.key, a.chain = bytes.Clone(key), true }
}

// New writes to w; with chain set, lines are hash-chained starting
// after prev ("" for a new trail; LastHash of an existing file to continue it).
func New(w io.Writer, chain bool, prev string, opts ...Option) *Trail {
	if prev == "" {
		prev = chainGenesis
	}
	a := &Trail{w: w, chain: chain, prev: prev}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Record writes ev as one line, in one Write call. Its error means the event
// is not in the trail; the caller decides (Config.AuditFailClosed).
func (a *Trail) Record(ev Event) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("audit: trail closed")
	}
	return a.record(ev)
}

// record writes ev; a.mu is held.
func (a *Trail) record(ev Event) error {
	if a.chain {
		ev.Prev = a.prev
	}
	b, err := a.line(ev)
	if err != nil {
		return err
	}
	if _, err := a.w.Write(b); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(b, []byte("\n")))
	a.prev = hex.EncodeToString(sum[:])
	return nil
}

// line encodes ev, bounded: fields are cut to MaxField bytes, then
// harder until the line fits MaxLine (JSON escaping can make a byte six).
func (a *Trail) line(ev Event) ([]byte, error) {
	for _, lim := range []struct{ field, aud int }{{MaxField, 16}, {64, 8}, {16, 2}} {
		e := ev
		e.clip(lim.field, lim.aud)
		b, err := appendEvent(make([]byte, 0, 512), &e)
		if err != nil {
			return nil, err
		}
		if a.key != nil {
			b = appendMAC(b, a.key)
		}
		if len(b)+1 <= MaxLine {
			return append(b, '\n'), nil
		}
	}
	return nil, errors.New("audit: event does not fit a line") // unreachable with the limits above
}

// clip cuts every attacker-influenced field to n bytes and the audience list to naud.
func (e *Event) clip(n, naud int) {
	for _, f := range []*string{&e.RequestID, &e.ClientID, &e.Method, &e.CertSubject, &e.CertThumbprint, &e.Template, &e.Scope, &e.JTI, &e.Outcome, &e.Reason, &e.Source, &e.Peer} {
		c := Clip(*f, n)
		if len(c) < len(*f) && strings.HasSuffix(c, "…") {
			e.Truncated = true
		}
		*f = c
	}
	if len(e.Audience) > naud {
		e.Audience, e.Truncated = append(e.Audience[:naud:naud], "…"), true
	}
	if e.Audience != nil {
		aud := make([]string, len(e.Audience))
		for i, s := range e.Audience {
			if aud[i] = Clip(s, n); len(aud[i]) < len(s) && strings.HasSuffix(aud[i], "…") {
				e.Truncated = true
			}
		}
		e.Audience = aud
	}
}

// Clip cuts s to at most n bytes on a rune boundary, ending in "…".
// Invalid UTF-8 becomes U+FFFD first, as JSON would write it, so the bound
// holds for the value a reader of the line gets back.
func Clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// macField starts how a keyed line ends: `,"mac":"` + 64 hex digits + `"}`.
const macField = `,"mac":"`

// appendMAC adds "mac" — HMAC-SHA-256 under key of the line without it — as
// the line's last member.
func appendMAC(b, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	b = append(b[:len(b)-1], macField...)
	b = hex.AppendEncode(b, m.Sum(nil))
	return append(b, '"', '}')
}

// checkMAC reports whether line ends with a valid mac under key.
func checkMAC(line, key []byte) bool {
	const tail = len(macField) + 64 + 2
	if len(line) < tail+2 || !bytes.HasSuffix(line, []byte(`"}`)) || !bytes.Equal(line[len(line)-tail:len(line)-tail+len(macField)], []byte(macField)) {
		return false
	}
	got, err := hex.DecodeString(string(line[len(line)-66 : len(line)-2]))
	if err != nil {
		return false
	}
	body := append(bytes.Clone(line[:len(line)-tail]), '}')
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// appendEvent appends e as encoding/json would marshal it — the same bytes,
// member order and escaping (FuzzEventJSON holds it to that) — without
// reflection: one audit line per token is on the hot path.
func appendEvent(b []byte, e *Event) ([]byte, error) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		// RFC 3339 has no such year: encoding/json refuses it too. The
		// caller fails the write (audit.fail_closed applies) rather than
		// write a line that says nothing.
		return b, fmt.Errorf("audit: event time %d is outside the years 0-9999", y)
	}
	str := func(b []byte, name, v string, omitEmpty bool) []byte {
		if omitEmpty && v == "" {
			return b
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		return jsonappend.String(b, v)
	}
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = str(b, "event", e.Event, false)
	b = str(b, "request_id", e.RequestID, false)
	b = str(b, "client_id", e.ClientID, true)
	b = str(b, "auth_method", e.Method, true)
	b = str(b, "cert_subject", e.CertSubject, true)
	b = str(b, "cert_thumbprint", e.CertThumbprint, true)
	b = str(b, "template", e.Template, true)
	b = str(b, "scope", e.Scope, true)
	if len(e.Audience) > 0 {
		b = append(b, `,"aud":[`...)
		for i, a := range e.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonappend.String(b, a)
		}
		b = append(b, ']')
	}
	b = str(b, "jti", e.JTI, true)
	b = str(b, "outcome", e.Outcome, false)
	b = str(b, "reason", e.Reason, true)
	b = str(b, "source", e.Source, false)
	b = str(b, "peer", e.Peer, true)
	if e.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	if e.Offset != 0 {
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, e.Offset, 10)
	}
	b = str(b, "prev", e.Prev, true)
	return append(b, '}'), nil
}
