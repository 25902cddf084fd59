package audit

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Events that bracket one writer's time in a file. A writer that opens a
// file says so (trail_opened, with the size it found); one that leaves it —
// a clean shutdown, or a rotation to a new file — says so too
// (trail_closed). A trail_opened that does not follow a trail_closed (or
// start the trail) means lines were cut off the end of the file while no
// writer had it open, or the writer before stopped without closing it
// (a crash, a kill -9): Verify reports it. With a chain key no one
// without the key can write the trail_closed that would hide a cut.
const (
	EventTrailOpened = "trail_opened"
	EventTrailClosed = "trail_closed"
)

// Open records trail_opened in the current writer: the writer has just
// opened a file that held size bytes and continues its chain. From then on
// Rotate and Close record trail_closed before leaving a file.
func (a *Trail) Open(size int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("audit: trail closed")
	}
	a.opened = true
	return a.record(Event{Time: time.Now().UTC(), Event: EventTrailOpened, Offset: size})
}

// Rotate makes w the destination of the next event and closes the previous
// writer when it is an io.Closer (log rotation: the file was renamed, w is
// a new one at the old path). The chain goes on: the first line in w links
// to the last line of the previous writer ("audit verify --from"). After
// Open, the previous writer ends with trail_closed and w starts with
// trail_opened, no other event between them; its offset is w's size then
// when w is an io.Seeker (the same file again, when it was not renamed),
// else 0. The switch happens whatever the errors returned.
func (a *Trail) Rotate(w io.Writer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("audit: trail closed")
	}
	var errs []error
	if a.opened {
		if err := a.record(Event{Time: time.Now().UTC(), Event: EventTrailClosed, Reason: "rotated"}); err != nil {
			errs = append(errs, fmt.Errorf("trail_closed not written: %w", err))
		}
	}
	old := a.w
	a.w = w
	if c, ok := old.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.opened {
		var size int64
		if s, ok := w.(io.Seeker); ok {
			var err error
			if size, err = s.Seek(0, io.SeekEnd); err != nil {
				errs = append(errs, err)
			}
		}
		if err := a.record(Event{Time: time.Now().UTC(), Event: EventTrailOpened, Offset: size, Reason: "rotated"}); err != nil {
			errs = append(errs, fmt.Errorf("trail_opened not written: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close records trail_closed (after Open), then closes the underlying
// writer when it is an io.Closer; later events fail. Safe to call twice.
func (a *Trail) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	if a.opened {
		if err := a.record(Event{Time: time.Now().UTC(), Event: EventTrailClosed}); err != nil {
			errs = append(errs, fmt.Errorf("trail_closed not written: %w", err))
		}
	}
	if c, ok := a.w.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
