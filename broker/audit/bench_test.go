package audit_test

import (
	"io"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// BenchmarkRecord is one chained audit line for an issued token, written to
// io.Discard: the trail's own cost on the token path, without the write(2).
func BenchmarkRecord(b *testing.B) {
	a := audit.New(nopWriter{io.Discard}, true, "")
	ev := audit.Event{Time: time.Now(), Event: audit.EventTokenIssued, RequestID: "abcdefghijklmnop", ClientID: "demo-basic",
		Method: "client_secret_basic", Scope: "read write", Audience: []string{"https://api.example"}, JTI: "abcdefghijklmnopqrstuv", Outcome: "success", Source: "127.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Record(ev); err != nil {
			b.Fatal(err)
		}
	}
}

type nopWriter struct{ io.Writer }

func (nopWriter) Close() error { return nil }
