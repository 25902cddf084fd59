package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// LastHash returns the hash to continue a chained trail from (the hash
// of its last line). r is read from the end when it can seek (an *os.File),
// so opening a long trail does not read all of it.
func LastHash(r io.Reader) (string, error) {
	if f, ok := r.(sizedReaderAt); ok {
		if size, err := f.Seek(0, io.SeekEnd); err == nil {
			l, _, err := lastLineAt(f, size)
			if err != nil || l == nil {
				return "", err
			}
			sum := sha256.Sum256(l)
			return hex.EncodeToString(sum[:]), nil
		}
	}
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

type sizedReaderAt interface {
	io.ReaderAt
	io.Seeker
}

// lastLineAt returns the last non-blank line of the first size bytes of r
// and the offset it starts at.
func lastLineAt(r io.ReaderAt, size int64) ([]byte, int64, error) {
	const block = 16 << 10
	var tail []byte
	for end := size; end > 0; {
		start := max(end-block, 0)
		buf := make([]byte, end-start)
		if _, err := r.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		tail = append(buf, tail...)
		end = start
		t := bytes.TrimRight(tail, " \t\r\n")
		if i := bytes.LastIndexByte(t, '\n'); i >= 0 {
			return t[i+1:], end + int64(i) + 1, nil
		}
		if end == 0 {
			if len(t) == 0 {
				return nil, 0, nil
			}
			return t, 0, nil
		}
		if len(tail) > 1<<20 {
			return nil, 0, errors.New("audit: last line longer than 1 MiB")
		}
	}
	return nil, 0, nil
}

// ErrTail means the last line of a keyed trail does not verify: its mac
// fails under the key, or it does not link to the line before it. Someone
// without the key edited the end of the file, or the key changed.
var ErrTail = errors.New("audit: the trail's last line does not verify")

// Continue returns the hash a writer continues the trail in f
// from, like LastHash, reading only the end of r. With key it first
// checks that the last line's mac verifies and that the line links to the
// one before it (when there is one), and fails with ErrTail if not: a
// writer must not extend a tail it cannot vouch for.
func Continue(f interface {
	io.ReaderAt
	io.Seeker
}, key []byte) (string, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	last, off, err := lastLineAt(f, size)
	if err != nil || last == nil {
		return "", err
	}
	if key != nil {
		if !checkMAC(last, key) {
			return "", fmt.Errorf("%w: its mac does not verify under the chain key", ErrTail)
		}
		var ev struct {
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(last, &ev); err != nil {
			return "", fmt.Errorf("%w: not JSON", ErrTail)
		}
		before, _, err := lastLineAt(f, off)
		if err != nil {
			return "", err
		}
		if before != nil && ev.Prev != hashLine(before) {
			return "", fmt.Errorf("%w: it does not link to the line before it", ErrTail)
		}
	}
	return hashLine(last), nil
}

func hashLine(l []byte) string {
	sum := sha256.Sum256(l)
	return hex.EncodeToString(sum[:])
}

// Report is what Verify found.
type Report struct {
	// Lines counts the lines read, Events those other than trail_opened
	// and trail_closed, Opened and Closed those two.
	Lines, Events, Opened, Closed int
	// Broken is the first line whose link to the line before it (or whose
	// mac) fails, 0 when the chain is intact. Reading stops there.
	Broken int
	// Unclean names each trail_opened line that does not follow a
	// trail_closed (or start what was read), or that does not start at the
	// offset it records.
	Unclean []Finding
	// EndsOpen is set when the last line is not trail_closed: a writer
	// still has the file, stopped without closing it, or lines were cut
	// off the end since it closed.
	EndsOpen bool
}

// Finding is one line Verify reports.
type Finding struct {
	Line    int
	Problem string
}

// Problems of Finding.
const (
	ReopenedUnclean = "trail reopened without a clean close — lines may have been removed before it, or the broker stopped uncleanly"
	OffsetMoved     = "trail_opened does not start at the offset it records — the file was changed while no writer had it open, or two writers share it"
)

// Verify checks a chained trail. start is the hash the first line
// must follow: "" for a trail that began with this file, the last hash of the
// previous file for a rotated one. With key, every line's mac must verify
// too (a keyed trail: WithChainKey).
//
// Besides the chain it checks the brackets a file writer leaves (Open): a
// trail_opened must follow a trail_closed, or be the first line read, and
// start at the byte offset it records. Lines written before the trail's
// first trail_opened (by a writer that did not bracket) are exempt.
//
// What it detects: an edited, inserted or deleted line anywhere but at the
// end; lines cut off the end while the writer ran (its next line names the
// removed one), or while it was stopped and then restarted on the file
// (trail_opened after a line that is not trail_closed). Without a key anyone
// can rewrite any line, brackets included, and recompute the hashes; with a
// key only its holder can. Neither detects whole writer sessions cut off the
// end back to a trail_closed, nor a file removed or emptied.
func Verify(r io.Reader, start string, key []byte) (Report, error) {
	var rep Report
	var pos, lineAt int64 // byte offsets: next to scan, and where the current line starts
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := bufio.ScanLines(data, atEOF)
		if tok != nil {
			lineAt = pos
		}
		pos += int64(adv)
		return adv, tok, err
	})
	prev := start
	if prev == "" {
		prev = chainGenesis
	}
	bracketed, lastEvent := false, ""
	for sc.Scan() {
		l := sc.Bytes()
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		rep.Lines++
		var ev struct {
			Event  string `json:"event"`
			Offset int64  `json:"offset"`
			Prev   string `json:"prev"`
		}
		if err := json.Unmarshal(l, &ev); err != nil {
			rep.Broken = rep.Lines
			return rep, fmt.Errorf("line %d: not JSON", rep.Lines)
		}
		if ev.Prev != prev || key != nil && !checkMAC(l, key) {
			rep.Broken = rep.Lines
			return rep, nil
		}
		switch ev.Event {
		case EventTrailOpened:
			rep.Opened++
			if bracketed && lastEvent != EventTrailClosed {
				rep.Unclean = append(rep.Unclean, Finding{rep.Lines, ReopenedUnclean})
			}
			if ev.Offset != lineAt {
				rep.Unclean = append(rep.Unclean, Finding{rep.Lines, OffsetMoved})
			}
			bracketed = true
		case EventTrailClosed:
			rep.Closed++
		default:
			rep.Events++
		}
		lastEvent = ev.Event
		prev = hashLine(l)
	}
	rep.EndsOpen = bracketed && lastEvent != EventTrailClosed
	return rep, sc.Err()
}

// VerifyChain checks a chained trail and returns the number of lines
// and the first broken line (0 when the chain is intact): the chain part of
// Verify, which see.
func VerifyChain(r io.Reader, start string, key []byte) (lines, broken int, err error) {
	rep, err := Verify(r, start, key)
	return rep.Lines, rep.Broken, err
}
