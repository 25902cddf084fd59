package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// A keyed chain (audit.chain_key_file): without the key no one can rewrite a
// line — the last one included — and recompute the chain; a keyless chain
// catches edits and deletions before the tail only. Neither sees lines cut
// off the end.
func TestAuditKeyedChain(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var keyed, plain bytes.Buffer
	ka := audit.New(&keyed, true, "", audit.WithChainKey(key))
	pa := audit.New(&plain, true, "")
	for i := range 4 {
		ev := audit.Event{Time: time.Unix(int64(i), 0).UTC(), Event: "token_issued", RequestID: "r", ClientID: "c", Outcome: "success", Source: "127.0.0.1"}
		if err := ka.Record(ev); err != nil {
			t.Fatal(err)
		}
		pa.Record(ev)
	}
	// rewriteTail is what an attacker without the key does: change the last
	// line (it keeps its prev), so the hashes still link.
	rewriteTail := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		lines[3] = strings.Replace(lines[3], `"client_id":"c"`, `"client_id":"x"`, 1)
		return strings.Join(lines, "\n") + "\n"
	}
	// rewriteMiddle changes line 2 and recomputes line 3's and 4's links.
	rewriteMiddle := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		lines[1] = strings.Replace(lines[1], `"client_id":"c"`, `"client_id":"x"`, 1)
		for i := 2; i < 4; i++ {
			sum := sha256.Sum256([]byte(lines[i-1]))
			var ev map[string]any
			json.Unmarshal([]byte(lines[i]), &ev)
			lines[i] = strings.Replace(lines[i], ev["prev"].(string), hex.EncodeToString(sum[:]), 1)
		}
		return strings.Join(lines, "\n") + "\n"
	}
	dropMiddle := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return strings.Join(append(lines[:1:1], lines[2:]...), "\n") + "\n"
	}
	cutTail := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return strings.Join(lines[:2], "\n") + "\n"
	}
	for _, tc := range []struct {
		name   string
		trail  string
		key    []byte
		broken int
	}{
		{"keyed, intact", keyed.String(), key, 0},
		{"keyed, read without the key", keyed.String(), nil, 0},
		{"keyed, wrong key", keyed.String(), []byte("another key, 32 bytes long......"), 1},
		{"keyed, tail rewritten", rewriteTail(keyed.String()), key, 4},
		{"keyed, middle rewritten and relinked", rewriteMiddle(keyed.String()), key, 2},
		{"keyed, middle line deleted", dropMiddle(keyed.String()), key, 2},
		{"keyed, tail cut off (not detectable)", cutTail(keyed.String()), key, 0},
		{"keyless, middle line edited", strings.Replace(plain.String(), `"time":"1970-01-01T00:00:01Z"`, `"time":"1970-01-01T00:00:09Z"`, 1), nil, 3},
		{"keyless, middle line deleted", dropMiddle(plain.String()), nil, 2},
		{"keyless, tail rewritten (not detectable)", rewriteTail(plain.String()), nil, 0},
		{"keyless, middle rewritten and relinked (not detectable)", rewriteMiddle(plain.String()), nil, 0},
		{"keyless trail checked with a key", plain.String(), key, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, broken, err := audit.VerifyChain(strings.NewReader(tc.trail), "", tc.key)
			if err != nil || broken != tc.broken {
				t.Fatalf("broken at %d (%v), want %d", broken, err, tc.broken)
			}
		})
	}
	// A keyed trail continues across restarts like a keyless one.
	prev, err := audit.LastHash(bytes.NewReader(keyed.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	more := bytes.NewBuffer(bytes.Clone(keyed.Bytes()))
	audit.New(more, true, prev, audit.WithChainKey(key)).Record(audit.Event{Event: "token_refused", Outcome: "invalid_client"})
	if n, broken, _ := audit.VerifyChain(more, "", key); n != 5 || broken != 0 {
		t.Fatalf("continued keyed trail: %d lines, broken at %d", n, broken)
	}
}

// LastHash reads a file from its end (a long trail is not read whole at
// start-up) and agrees with a front-to-back read: lines across block
// boundaries, trailing blank lines, a single line, an empty file.
func TestLastAuditHash(t *testing.T) {
	long := strings.Repeat("x", 40<<10)
	sum := func(l string) string { s := sha256.Sum256([]byte(l)); return hex.EncodeToString(s[:]) }
	for _, tc := range []struct {
		name, trail, want string
	}{
		{"empty", "", ""},
		{"one line", `{"a":1}` + "\n", sum(`{"a":1}`)},
		{"no final newline", "{\"a\":1}\n{\"b\":2}", sum(`{"b":2}`)},
		{"trailing blank lines", "{\"a\":1}\n{\"b\":2}\n\n  \n", sum(`{"b":2}`)},
		{"last line longer than a block", "{\"a\":1}\n{\"" + long + "\":2}\n", sum(`{"` + long + `":2}`)},
		{"many lines", strings.Repeat(`{"a":1}`+"\n", 10000) + `{"z":9}` + "\n", sum(`{"z":9}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// strings.Reader seeks: the tail path; a plain io.Reader: the scan.
			for _, r := range []io.Reader{strings.NewReader(tc.trail), io.MultiReader(strings.NewReader(tc.trail))} {
				got, err := audit.LastHash(r)
				if err != nil || got != tc.want {
					t.Fatalf("%T: %q, %v; want %q", r, got, err, tc.want)
				}
			}
		})
	}
}

// Whatever a caller puts in the fields, an audit line is one line of valid
// JSON within MaxLine, its fields within MaxField, and the keyed
// chain verifies.
func FuzzAuditLine(f *testing.F) {
	f.Add("c", "reason", "scope", "CN=x", "https://api", 1)
	f.Add(strings.Repeat("<", 5000), strings.Repeat("\x00", 3000), strings.Repeat("é", 2000), "\xff\xfe", strings.Repeat("\u2028", 900), 40)
	f.Add(strings.Repeat("\xff", 1000), "r", "s", strings.Repeat("\xc3", 500), "a", 2)
	key := []byte("fuzzing key, at least 32 bytes long")
	f.Fuzz(func(t *testing.T, clientID, reason, scope, subject, aud string, naud int) {
		var trail bytes.Buffer
		a := audit.New(&trail, true, "", audit.WithChainKey(key))
		ev := audit.Event{Event: "token_refused", RequestID: reason, ClientID: clientID, Reason: reason, Scope: scope, CertSubject: subject, Outcome: "invalid_request", Source: subject}
		for range min(max(naud, 0), 100) {
			ev.Audience = append(ev.Audience, aud)
		}
		for range 2 {
			if err := a.Record(ev); err != nil {
				t.Fatal(err)
			}
		}
		lines := strings.Split(strings.TrimSuffix(trail.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d lines for 2 events", len(lines))
		}
		for _, l := range lines {
			if len(l)+1 > audit.MaxLine {
				t.Fatalf("line of %d bytes", len(l)+1)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			for k, v := range m {
				if s, ok := v.(string); ok && len(s) > audit.MaxField {
					t.Fatalf("%s: %d bytes", k, len(s))
				}
			}
		}
		if _, broken, err := audit.VerifyChain(&trail, "", key); broken != 0 || err != nil {
			t.Fatalf("chain broken at %d: %v", broken, err)
		}
	})
}
