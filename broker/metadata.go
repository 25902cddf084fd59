package broker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
)

// metadata is RFC 8414 §2 authorization server metadata.
type metadata struct {
	Issuer                                string            `json:"issuer"`
	TokenEndpoint                         string            `json:"token_endpoint"`
	JWKSURI                               string            `json:"jwks_uri"`
	RegistrationEndpoint                  string            `json:"registration_endpoint,omitempty"`
	IntrospectionEndpoint                 string            `json:"introspection_endpoint"`
	IntrospectionAuthMethods              []string          `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                    string            `json:"revocation_endpoint"`
	RevocationAuthMethods                 []string          `json:"revocation_endpoint_auth_methods_supported"`
	ScopesSupported                       []string          `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                []string          `json:"response_types_supported"`
	GrantTypesSupported                   []string          `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported     []string          `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValues     []string          `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation                  string            `json:"service_documentation,omitempty"`
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
	DPoPSigningAlgValuesSupported         []string          `json:"dpop_signing_alg_values_supported"`
}

func (s *Server) buildMetadata() ([]byte, error) {
	md := metadata{
		Issuer:        s.cfg.Issuer,
		TokenEndpoint: s.base + PathToken,
		JWKSURI:       s.base + PathJWKS,
		// RFC 8414 §2 marks response_types_supported REQUIRED; this server has
		// no authorization endpoint, so it supports no response type.
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: s.auth.Methods(),
		ScopesSupported:                   s.cfg.ScopesSupported,
		IntrospectionEndpoint:             s.base + PathIntrospect,
		IntrospectionAuthMethods:          s.auth.Methods(),
		RevocationEndpoint:                s.base + PathRevoke,
		RevocationAuthMethods:             s.auth.Methods(),
	}
	// RFC 9449 §5.1: the proof algorithms this server accepts.
	md.DPoPSigningAlgValuesSupported = s.dpop.Algorithms()
	if len(s.cfg.InitialAccessTokenHashes) > 0 {
		md.RegistrationEndpoint = s.base + PathRegister
	}
	// RFC 8705 §3.3: this server binds tokens to any client certificate presented.
	md.TLSClientCertificateBoundAccessTokens = true
	if s.cfg.MTLSBaseURL != "" {
		base := strings.TrimSuffix(s.cfg.MTLSBaseURL, "/")
		md.MTLSEndpointAliases = map[string]string{"token_endpoint": base + PathToken, "introspection_endpoint": base + PathIntrospect, "revocation_endpoint": base + PathRevoke}
		if md.RegistrationEndpoint != "" {
			md.MTLSEndpointAliases["registration_endpoint"] = base + PathRegister
		}
	}
	for _, m := range md.TokenEndpointAuthMethodsSupported {
		if m == "private_key_jwt" {
			for _, a := range authn.AssertionAlgs {
				md.TokenEndpointAuthSigningAlgValues = append(md.TokenEndpointAuthSigningAlgValues, string(a))
			}
		}
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return b, nil
}

func (s *Server) serveMetadata(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.metadata)
}

// serveJWKS publishes next, active and not-yet-expired retired keys. The
// max-age is the publish-before-use delay: a next key is promoted only after
// every cache has had the chance to see it.
func (s *Server) serveJWKS(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.cfg.JWKSMaxAge.Seconds())))
	return c.Blob(http.StatusOK, "application/jwk-set+json", s.tokens.jwks())
}
