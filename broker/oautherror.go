package broker

import (
	"errors"
	"math"
	"net/http"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker/policy"
)

// Error is the one OAuth error type. Code and Description are what the client
// sees (RFC 6749 §5.2); Cause is for the log only.
type Error struct {
	Code        string
	Description string
	Status      int
	Cause       error
	// Challenge is the WWW-Authenticate value for 401 responses.
	Challenge string
	// retryAfter, in seconds, for 429 and 503 responses.
	retryAfter int
	// dpopNonce is the DPoP-Nonce header of a use_dpop_nonce answer (RFC 9449 §8).
	dpopNonce string
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

func oauthErr(status int, code, desc string, cause error) *Error {
	return &Error{Code: code, Description: desc, Status: status, Cause: cause}
}

// errorFor maps any error to the OAuth error the client sees. Unrecognized
// errors become server_error with no detail.
func errorFor(err error) *Error {
	var oe *Error
	var pe *policy.Error
	var se *signing.UnavailableError
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.As(err, &pe):
		return oauthErr(http.StatusBadRequest, pe.Code, pe.Description, nil)
	case errors.Is(err, authn.ErrInvalidRequest):
		return oauthErr(http.StatusBadRequest, "invalid_request", "malformed client authentication", err)
	case errors.Is(err, authn.ErrInvalidClient):
		// RFC 6749 §5.2: nothing more than "client authentication failed".
		return oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication failed", err)
	case errors.As(err, &se):
		// A signing source that cannot sign now (a remote signer throttled,
		// its queue full): RFC 6749 §4.1.2.1's temporarily_unavailable with
		// Retry-After (RFC 9110 §10.2.3), never a 500 or a hang.
		e := oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be signed now, retry later", err)
		e.retryAfter = max(int(math.Ceil(se.RetryAfter.Seconds())), 1)
		return e
	case errors.Is(err, backends.ErrUnavailable):
		// A client we cannot look up right now is not an unknown client.
		return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "client registry unavailable, retry later", err)
	default:
		return oauthErr(http.StatusInternalServerError, "server_error", "internal error", err)
	}
}
