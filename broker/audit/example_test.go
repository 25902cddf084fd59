package audit_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// A keyed audit chain: every line carries the hash of the one before it and
// an HMAC of itself, so only the key's holder can rewrite any line.
func ExampleNew() {
	key := []byte("an audit chain key of 32+ bytes!")
	var trail bytes.Buffer
	a := audit.New(&trail, true, "", audit.WithChainKey(key))
	a.Record(audit.Event{Time: time.Unix(0, 0).UTC(), Event: "token_issued", RequestID: "r1", ClientID: "billing", Outcome: "success", Source: "10.0.0.7"})
	a.Record(audit.Event{Time: time.Unix(1, 0).UTC(), Event: "token_refused", RequestID: "r2", ClientID: "billing", Outcome: "invalid_client", Source: "10.0.0.7"})
	lines, broken, err := audit.VerifyChain(bytes.NewReader(trail.Bytes()), "", key)
	fmt.Println(lines, broken, err)
	// Output: 2 0 <nil>
}
