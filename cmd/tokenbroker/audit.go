package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
)

// auditVerifyCommand verifies a hash-chained audit trail and names the
// first broken line.
func auditVerifyCommand(fs *flag.FlagSet) runFunc {
	from := fs.String("from", "", "hash the first line follows (for a rotated file: the last hash of the previous one)")
	keyFile := fs.String("key", "", "the audit.chain_key_file `FILE` of a keyed trail: also check every line's mac")
	return func(_ context.Context, e env, args []string) error {
		return auditVerify(e.stdout, args[0], *from, *keyFile)
	}
}

func auditVerify(stdout io.Writer, path, from, keyFile string) error {
	var key []byte
	if keyFile != "" {
		var err error
		if key, err = runtime.ReadChainKey(keyFile); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := audit.Verify(f, from, key)
	if err != nil {
		return err
	}
	if rep.Broken != 0 {
		hint := ""
		if key != nil {
			hint = " (or its mac does not verify under this key)"
		}
		return fmt.Errorf("%s: chain broken at line %d (of %d read): that line, or the one before it, was altered, removed or inserted%s", path, rep.Broken, rep.Lines, hint)
	}
	what := "chain intact"
	if key != nil {
		what = "chain and macs intact"
	} else if keyedTrail(f) {
		what = "chain intact (its lines carry a mac: check them with --key)"
	}
	summary := fmt.Sprintf("%s: %d events, %s", path, rep.Events, what)
	if rep.Opened+rep.Closed > 0 {
		summary += fmt.Sprintf(" (%d lines with %d trail_opened, %d trail_closed)", rep.Lines, rep.Opened, rep.Closed)
	}
	if len(rep.Unclean) > 0 {
		// The chain holds, but a writer found the file other than it left
		// it: an audit question for a human, so the check fails.
		var b strings.Builder
		for _, u := range rep.Unclean {
			fmt.Fprintf(&b, "\n  line %d: %s", u.Line, u.Problem)
		}
		return fmt.Errorf("%s; but:%s", summary, b.String())
	}
	if rep.EndsOpen {
		summary += "; the last line is not trail_closed (the broker is running, or stopped uncleanly, or lines were cut off the end since)"
	}
	fmt.Fprintln(stdout, summary)
	return nil
}

// keyedTrail reports whether the trail's first line carries a mac.
func keyedTrail(f *os.File) bool {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false
	}
	l, _ := bufio.NewReaderSize(f, 16<<10).ReadSlice('\n')
	return bytes.Contains(l, []byte(`,"mac":"`))
}
