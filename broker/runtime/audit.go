package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// openAudit opens the audit trail: "-" for stdout, else a file appended to
// (0600); a chained trail continues from the file's last line. A
// *trailNotOpenedError comes with a usable Auditor. With
// audit.chain_key_file the chain is keyed (each line carries an HMAC), and
// the file's last line must verify under the key before the trail goes on:
// if it does not, someone edited the end of the file (or the key changed)
// and the broker refuses to start rather than vouch for that line — rename
// the file aside to start a new trail. A chained file trail is bracketed:
// trail_opened now, trail_closed when the process closes it.
func openAudit(fc *config.Config) (*audit.Trail, error) {
	a := fc.Audit
	var opts []audit.Option
	var key []byte
	if a.ChainKeyFile != "" {
		var err error
		if key, err = ReadChainKey(a.ChainKeyFile); err != nil {
			return nil, config.Errorf("audit.chain_key_file", "%w", err)
		}
		opts = append(opts, audit.WithChainKey(key))
	}
	chain := fc.AuditChained()
	if a.File == "-" || a.File == "stdout" {
		return audit.New(nopCloser{os.Stdout}, chain, "", opts...), nil
	}
	prev := ""
	if st, err := os.Stat(a.File); chain && err == nil && st.Mode().IsRegular() {
		// Read from the end: the last lines are all a continued chain needs.
		r, err := os.Open(a.File)
		if err == nil {
			prev, err = audit.Continue(r, key)
			r.Close()
		}
		if errors.Is(err, audit.ErrTail) {
			return nil, config.Errorf("audit.file", "%s: %w; keep it as evidence and move it aside to start a new trail", a.File, err)
		}
		if err != nil {
			return nil, config.Errorf("audit.file", "%w", err)
		}
	}
	f, err := os.OpenFile(a.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, config.Errorf("audit.file", "%w", err)
	}
	aud := audit.New(f, chain, prev, opts...)
	if chain {
		if err := openTrail(aud, f); err != nil {
			// Like any failed audit write, it does not stop the broker.
			return aud, &trailNotOpenedError{err}
		}
	}
	return aud, nil
}

// trailNotOpenedError is openAudit's error when the trail is open but its
// trail_opened line could not be written (a full disk): the broker starts,
// and logs it.
type trailNotOpenedError struct{ err error }

func (e *trailNotOpenedError) Error() string {
	return "audit.file: trail_opened not written: " + e.err.Error()
}
func (e *trailNotOpenedError) Unwrap() error { return e.err }

// openTrail records trail_opened in f, with the size f had.
func openTrail(aud *audit.Trail, f *os.File) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	return aud.Open(size)
}

// ReadChainKey reads an audit chain key (audit.chain_key_file): the file's contents, surrounding
// white space removed, at least audit.MinKeyLen bytes.
func ReadChainKey(path string) ([]byte, error) {
	b, err := config.ReadLimited(path, 4096)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < audit.MinKeyLen {
		return nil, fmt.Errorf("key shorter than %d bytes (e.g. openssl rand -hex 32 > FILE)", audit.MinKeyLen)
	}
	return b, nil
}

// nopCloser keeps Auditor.Close from closing stdout.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
