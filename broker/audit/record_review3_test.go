package audit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// review3: before appendEvent, an event encoding/json could not marshal (a
// time outside years 0–9999) made Record return the error — the event is not
// in the trail, and with audit.fail_closed the token is refused. appendEvent
// writes "{}" instead and Record reports success: the event is lost, the line
// carries no prev (and, keyed, is not even JSON: `{,"mac":…}`), and the chain
// is broken at that line while the caller believes the event was recorded.
func TestReview3UnencodableEventIsAnErrorNotABrokenLine(t *testing.T) {
	key := bytes.Repeat([]byte("k"), audit.MinKeyLen)
	var buf bytes.Buffer
	tr := audit.New(&buf, true, "", audit.WithChainKey(key))
	ok := audit.Event{Time: time.Unix(1_800_000_000, 0).UTC(), Event: audit.EventTokenIssued, RequestID: "r1", ClientID: "c", Outcome: "success", Source: "127.0.0.1"}
	if err := tr.Record(ok); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.RequestID, bad.Time = "r2", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	err := tr.Record(bad)
	if err != nil {
		return // as before appendEvent: not recorded, and the caller knows
	}
	if err := tr.Record(ok); err != nil {
		t.Fatal(err)
	}
	rep, verr := audit.Verify(bytes.NewReader(buf.Bytes()), "", key)
	if verr != nil || rep.Broken != 0 || !strings.Contains(buf.String(), `"request_id":"r2"`) {
		t.Fatalf("Record returned nil for an event it could not encode; trail:\n%s\nverify: %+v %v", buf.String(), rep, verr)
	}
}
