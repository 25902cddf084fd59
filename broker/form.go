package broker

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// maxParams bounds the number of form parameters.
const maxParams = 64

// readForm reads a size-bounded application/x-www-form-urlencoded body.
func (s *Server) readForm(c echo.Context, repeatable ...string) (url.Values, error) {
	r := c.Request()
	if r.URL.RawQuery != "" {
		// RFC 6749 §2.3.1 / §3.2: parameters and credentials go in the body, never the URI.
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "parameters must be sent in the request body, not the URI", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large", err)
		}
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "could not read the request body", err)
	}
	return parseForm(r.Header.Get("Content-Type"), body, repeatable...)
}

// parseForm parses a token-endpoint style request body (RFC 6749 §3.2 and
// Appendix B): the content type must be application/x-www-form-urlencoded,
// a parameter must not repeat unless it is named in repeatable (RFC 8707
// resource), values must be UTF-8, and an empty value counts as omitted
// (RFC 6749 §3.1).
func parseForm(contentType string, body []byte, repeatable ...string) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "content type must be application/x-www-form-urlencoded", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "malformed form body", err)
	}
	if len(form) > maxParams {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "too many parameters", nil)
	}
	for k, vs := range form {
		if !utf8.ValidString(k) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "parameter names must be UTF-8", nil)
		}
		kept := vs[:0]
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, oauthErr(http.StatusBadRequest, "invalid_request", "parameter "+k+" is not UTF-8", nil)
			}
			if v != "" {
				kept = append(kept, v)
			}
		}
		switch {
		case len(kept) == 0:
			delete(form, k)
		case len(kept) > 1 && !slices.Contains(repeatable, k):
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "parameter "+k+" must not be repeated", nil)
		default:
			form[k] = kept
		}
	}
	return form, nil
}
