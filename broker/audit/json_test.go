package audit_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// FuzzEventJSON holds the reflection-free audit line to encoding/json's
// bytes for any event: same members, order, omissions and escaping.
func FuzzEventJSON(f *testing.F) {
	f.Add(int64(1_800_000_000_123_456_789), "token_issued", "req-1", "demo-basic", "client_secret_basic", "CN=a", "thumb", "read write", "https://api.example", "jti", "success", "", "127.0.0.1", "", false, int64(0), "genesis")
	f.Add(int64(0), "token_refused", "r\"<>&\u2028", "ſcope\xff", "", "", "", "", "", "", "invalid_client", "bad\nreason", "::1", "10.0.0.1", true, int64(42), "")
	f.Add(int64(-62135596800_000_000_0), "", "", "", "", "", "", "", "", "", "", "", "", "", false, int64(-1), "")
	f.Fuzz(func(t *testing.T, ns int64, ev, rid, cid, method, subj, thumb, scope, aud, jti, outcome, reason, source, peer string, truncated bool, offset int64, prev string) {
		e := audit.Event{Time: time.Unix(0, ns).UTC(), Event: ev, RequestID: rid, ClientID: cid, Method: method, CertSubject: subj,
			CertThumbprint: thumb, Template: method + subj, Scope: scope, JTI: jti, Outcome: outcome, Reason: reason, Source: source, Peer: peer,
			Truncated: truncated, Offset: offset, Prev: prev}
		if aud != "" {
			e.Audience = []string{aud, aud + "2"}
		}
		want, werr := json.Marshal(e)
		got, err := audit.AppendEvent(nil, &e)
		if (err != nil) != (werr != nil) {
			t.Fatalf("appendEvent error %v, encoding/json's %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n got %s\nwant %s", got, want)
		}
	})
}
