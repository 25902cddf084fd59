// Package audit is tokenbroker's audit trail: one bounded JSON line per
// event (Event) — who got which token, who was refused, which client was
// registered — written by one Trail per process. In chained mode every line
// carries the SHA-256 of the line before it; with a chain key
// (WithChainKey) also an HMAC of itself, so only the key's holder can
// rewrite a line. A file writer brackets its time in the file with
// trail_opened and trail_closed (Trail.Open, Rotate, Close), and Verify
// reports broken links and unclean reopenings. No secret, assertion or
// token ever goes into an Event: tokens appear by jti, and attacker input
// only cut to MaxField bytes.
//
//	prev, err := audit.Continue(f, key) // the hash the file's last line ends the chain with
//	trail := audit.New(f, true, prev, audit.WithChainKey(key))
//	err = trail.Open(size)
//	err = trail.Record(audit.Event{Time: now, Event: audit.EventTokenIssued, ClientID: "billing", Outcome: "success", Source: addr})
//	defer trail.Close()
//
//	rep, err := audit.Verify(r, "", key) // tokenbroker audit verify
package audit
