package audit_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// trailRun is one writer's life on a trail, as a serve process lives it:
// continue from the end (checked with the key), trail_opened, events, and
// trail_closed unless it crashes.
func trailRun(t *testing.T, trail *bytes.Buffer, key []byte, events int, crash bool) {
	t.Helper()
	prev, err := audit.Continue(bytes.NewReader(trail.Bytes()), key)
	if err != nil {
		t.Fatal(err)
	}
	a := audit.New(trail, true, prev, audit.WithChainKey(key))
	if err := a.Open(int64(trail.Len())); err != nil {
		t.Fatal(err)
	}
	for range events {
		if err := a.Record(audit.Event{Time: time.Now(), Event: "token_issued", ClientID: "c", Outcome: "success", Source: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if !crash {
		a.Close()
	}
}

func lines(b []byte) []string { return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") }

// The writer brackets its time in the file, so that lines cut off the end
// while it was stopped show at the next start (trail_opened after a line
// that is not trail_closed) — with a key, no one without it can write the
// trail_closed that would hide the cut. Before: a trail cut back by two
// events and continued by a restarted broker verified intact.
func TestAuditTrailBrackets(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	reopened := audit.Finding{Line: 0, Problem: audit.ReopenedUnclean}
	at := func(f audit.Finding, line int) audit.Finding { f.Line = line; return f }
	for _, tc := range []struct {
		name     string
		build    func(t *testing.T, trail *bytes.Buffer)
		unclean  []audit.Finding
		endsOpen bool
		events   int
	}{
		{"two clean runs", func(t *testing.T, tr *bytes.Buffer) {
			trailRun(t, tr, key, 2, false)
			trailRun(t, tr, key, 1, false)
		}, nil, false, 3},
		{"running (no trail_closed yet)", func(t *testing.T, tr *bytes.Buffer) {
			trailRun(t, tr, key, 2, false)
			trailRun(t, tr, key, 1, true)
		}, nil, true, 3},
		{"crash, then a restart", func(t *testing.T, tr *bytes.Buffer) {
			trailRun(t, tr, key, 2, true)
			trailRun(t, tr, key, 1, false)
		}, []audit.Finding{at(reopened, 4)}, false, 3},
		{"events cut off the end while stopped, then a restart", func(t *testing.T, tr *bytes.Buffer) {
			trailRun(t, tr, key, 3, false)
			l := lines(tr.Bytes())
			tr.Reset()
			tr.WriteString(strings.Join(l[:2], "")) // trail_opened, first event
			trailRun(t, tr, key, 1, false)
		}, []audit.Finding{at(reopened, 3)}, false, 2},
		{"a blank line put in front of the file", func(t *testing.T, tr *bytes.Buffer) {
			trailRun(t, tr, key, 1, false)
			trailRun(t, tr, key, 1, false)
			b := append([]byte("\n"), tr.Bytes()...)
			tr.Reset()
			tr.Write(b)
		}, []audit.Finding{{Line: 1, Problem: audit.OffsetMoved}, {Line: 4, Problem: audit.OffsetMoved}}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var trail bytes.Buffer
			tc.build(t, &trail)
			rep, err := audit.Verify(bytes.NewReader(trail.Bytes()), "", key)
			if err != nil || rep.Broken != 0 {
				t.Fatalf("chain broken at %d (%v)", rep.Broken, err)
			}
			if !reflect.DeepEqual(rep.Unclean, tc.unclean) || rep.EndsOpen != tc.endsOpen || rep.Events != tc.events {
				t.Fatalf("unclean %v, ends open %v, %d events; want %v, %v, %d", rep.Unclean, rep.EndsOpen, rep.Events, tc.unclean, tc.endsOpen, tc.events)
			}
		})
	}

	// Lines written before the trail's first trail_opened (an older writer)
	// do not make it unclean.
	var legacy bytes.Buffer
	audit.New(&legacy, true, "", audit.WithChainKey(key)).Record(audit.Event{Event: "token_issued"})
	trailRun(t, &legacy, key, 1, false)
	if rep, err := audit.Verify(&legacy, "", key); err != nil || rep.Broken != 0 || rep.Unclean != nil {
		t.Fatalf("a bracketed run after unbracketed lines: %+v %v", rep, err)
	}
}

// Rotation closes the old file and opens the new one, nothing between: the
// new file verifies on its own from the old one's last hash.
func TestAuditTrailRotate(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var old, cur bytes.Buffer
	a := audit.New(&old, true, "", audit.WithChainKey(key))
	a.Open(0)
	a.Record(audit.Event{Event: "token_issued"})
	if err := a.Rotate(&cur); err != nil {
		t.Fatal(err)
	}
	a.Record(audit.Event{Event: "token_issued"})
	a.Close()
	rep, err := audit.Verify(bytes.NewReader(old.Bytes()), "", key)
	if err != nil || rep.Broken != 0 || rep.Unclean != nil || rep.EndsOpen || rep.Opened != 1 || rep.Closed != 1 {
		t.Fatalf("rotated-away file: %+v %v", rep, err)
	}
	last, _ := audit.LastHash(bytes.NewReader(old.Bytes()))
	rep, err = audit.Verify(bytes.NewReader(cur.Bytes()), last, key)
	if err != nil || rep.Broken != 0 || rep.Unclean != nil || rep.EndsOpen || rep.Events != 1 {
		t.Fatalf("new file: %+v %v", rep, err)
	}
}

// A keyed trail goes on only from a last line that verifies: its mac, and
// its link to the line before. Someone without the key who edits the last
// line, or moves an earlier (validly signed) line to the end, stops the
// writer with ErrTail. A keyless trail cannot tell and goes on.
func TestContinueAuditTrailChecksTail(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var trail bytes.Buffer
	trailRun(t, &trail, key, 2, false)
	l := lines(trail.Bytes())
	for _, tc := range []struct {
		name  string
		trail string
		err   error
	}{
		{"intact", trail.String(), nil},
		{"empty", "", nil},
		{"last line edited", strings.Join(l[:3], "") + strings.Replace(l[3], `"trail_closed"`, `"trail_closex"`, 1), audit.ErrTail},
		{"signed line moved to the end", strings.Join(l[:3], "") + l[1], audit.ErrTail},
		{"last line cut in half", trail.String()[:trail.Len()-20], audit.ErrTail},
		{"cut back to a whole line (not detectable here)", strings.Join(l[:2], ""), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := audit.Continue(strings.NewReader(tc.trail), key); !errors.Is(err, tc.err) {
				t.Fatalf("%v, want %v", err, tc.err)
			}
		})
	}
	if _, err := audit.Continue(strings.NewReader(strings.Join(l[:3], "")+l[1]), nil); err != nil {
		t.Fatalf("keyless: %v", err)
	}
}
