package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a configuration error: the key to fix (tokens.lifetime) and why.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf is an *Error for key, its cause formatted as fmt.Errorf does.
func Errorf(key, format string, a ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, a...)}
}

// fieldKeys maps the fields of the libraries' options — as their field
// errors name them, qualified by the options type — to the keys that set
// them. Nested fields (RateLimits.FailedPerClient.Burst) are looked up
// from the longest known prefix down.
var fieldKeys = map[string]string{
	"broker.Config.Issuer":                       "issuer",
	"broker.Config.DefaultAudience":              "tokens.default_audience",
	"broker.Config.TokenLifetime":                "tokens.lifetime",
	"broker.Config.MaxTokenLifetime":             "tokens.max_lifetime",
	"broker.Config.SigningAlg":                   "tokens.signing_alg",
	"broker.Config.ScopesSupported":              "scopes_supported",
	"broker.Config.RegistrationResources":        "registration.allowed_resources",
	"broker.Config.MTLSBaseURL":                  "mtls.base_url",
	"broker.Config.MaxRevocationsPerClient":      "shared_state.max_revocations_per_client",
	"broker.Config.JWKSMaxAge":                   "keys.jwks_max_age",
	"broker.Config.KeyRefresh":                   "keys.refresh",
	"broker.Config.SecretRotationGrace":          "secrets.rotation_grace",
	"broker.Config.DPoP.MaxAge":                  "dpop.proof_max_age",
	"broker.Config.DPoP.MaxJTIsPerClient":        "shared_state.max_jtis_per_client",
	"broker.Config.RateLimits.FailedPerClient":   "rate_limits.failed_per_client",
	"broker.Config.RateLimits.FailedPerAddress":  "rate_limits.failed_per_address",
	"broker.Config.RateLimits.IssuancePerClient": "rate_limits.issuance_per_client",
	"broker.Config.RateLimits.Registrations":     "rate_limits.registrations",
	"broker.Rate.PerSecond":                      "per_second",
	"broker.Rate.Burst":                          "burst",
	"certs.ProxyConfig.Format":                   "proxy.format",
	"certs.ProxyConfig.Header":                   "proxy.header",
	"certs.ProxyConfig.Trusted":                  "proxy.trusted_proxies",
	"certs.ProxyConfig.AddressHeader":            "proxy.address_header",
}

// nested says which options type a nested field of a type is.
var nested = map[string]string{
	"broker.Config.RateLimits.FailedPerClient":   "broker.Rate",
	"broker.Config.RateLimits.FailedPerAddress":  "broker.Rate",
	"broker.Config.RateLimits.IssuancePerClient": "broker.Rate",
	"broker.Config.RateLimits.Registrations":     "broker.Rate",
}

// KeyOf returns the configuration key of a library option: typ is the
// options type ("broker.Config"), field the field as its error names it
// ("RateLimits.FailedPerClient.Burst"). An option no key sets keeps its
// Go name.
func KeyOf(typ, field string) string {
	path := typ + "." + field
	if k, ok := fieldKeys[path]; ok {
		return k
	}
	for p := path; strings.Contains(p, "."); p = p[:strings.LastIndex(p, ".")] {
		if sub, ok := nested[p]; ok {
			return fieldKeys[p] + "." + KeyOf(sub, strings.TrimPrefix(path, p+"."))
		}
	}
	return field
}

// Keyed is err as a configuration *Error: the library field err names,
// mapped with KeyOf. An error without a field keeps its message.
func Keyed(typ, field string, err error) error {
	return &Error{Key: KeyOf(typ, field), Err: err}
}

// Keys lists the keys that errs (a joined error, or one) name.
func Keys(err error) map[string]bool {
	keys := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *Error
		if errors.As(err, &ce) {
			keys[ce.Key] = true
		}
	}
	walk(err)
	return keys
}
