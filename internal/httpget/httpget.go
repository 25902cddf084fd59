package httpget

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Get fetches u with client and returns its body: an error for a request
// that fails, an answer other than 200 OK ("answered 404 Not Found"), or a
// body longer than max bytes ("larger than max bytes"), read no further than
// max+1 bytes so a huge answer costs no more memory than a bounded one.
func Get(ctx context.Context, client *http.Client, u string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}
