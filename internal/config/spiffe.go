package config

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// SPIFFE is federation.spiffe: the SPIFFE trust domains whose workloads
// authenticate with their SVIDs (draft-ietf-oauth-spiffe-client-auth-02).
type SPIFFE struct {
	// TrustDomains are keyed by trust domain name (§6: bundles MUST be keyed
	// by the trust domain identifier).
	TrustDomains map[string]SPIFFETrustDomain `yaml:"trust_domains"`
	// RefreshMin and RefreshMax bound the refresh interval a bundle's
	// spiffe_refresh_hint asks for.
	RefreshMin Duration `yaml:"refresh_min"`
	RefreshMax Duration `yaml:"refresh_max"`
	// Timeout bounds one bundle fetch.
	Timeout Duration `yaml:"timeout"`
	// JWTSVIDMaxLifetime caps a JWT-SVID's exp - iat: its replay window.
	JWTSVIDMaxLifetime Duration `yaml:"jwt_svid_max_lifetime"`
	// MaxStale is how long a trust domain's last good bundle is trusted
	// while its source keeps failing; past it, the domain's workloads are
	// refused (authorities dropped upstream must not stay trusted forever).
	MaxStale Duration `yaml:"max_stale"`
}

// SPIFFETrustDomain is one trust domain's bundle source: a bundle endpoint,
// a bundle file, or the Workload API.
type SPIFFETrustDomain struct {
	BundleEndpointURL string `yaml:"bundle_endpoint_url"`
	// BundleEndpointProfile: https_web (default) or https_spiffe.
	BundleEndpointProfile string `yaml:"bundle_endpoint_profile"`
	// EndpointSPIFFEID is the SPIFFE ID an https_spiffe endpoint presents.
	EndpointSPIFFEID string `yaml:"endpoint_spiffe_id"`
	// EndpointCAFile holds the roots of an https_web endpoint (default: the system's).
	EndpointCAFile string `yaml:"endpoint_ca_file"`
	// BundleFile is the bundle itself; with https_spiffe, the initial bundle
	// that authenticates the endpoint's first answer.
	BundleFile string `yaml:"bundle_file"`
	// WorkloadAPISocket is the SPIFFE Workload API address (unix:///path).
	WorkloadAPISocket string `yaml:"workload_api_socket"`
}

// Defaults of federation.spiffe.
const (
	DefaultSPIFFERefreshMin      = 30 * time.Second
	DefaultSPIFFERefreshMax      = time.Hour
	DefaultSPIFFETimeout         = 10 * time.Second
	DefaultJWTSVIDMaxLifetime    = time.Hour
	DefaultSPIFFEMaxStale        = 24 * time.Hour
	DefaultBundleEndpointProfile = "https_web"
)

// setSPIFFEDefaults fills federation.spiffe's unset keys.
func (c *Config) setSPIFFEDefaults() {
	s := &c.Federation.SPIFFE
	if len(s.TrustDomains) == 0 {
		return
	}
	if s.RefreshMin == 0 {
		s.RefreshMin = Duration(DefaultSPIFFERefreshMin)
	}
	if s.RefreshMax == 0 {
		s.RefreshMax = Duration(DefaultSPIFFERefreshMax)
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultSPIFFETimeout)
	}
	if s.JWTSVIDMaxLifetime == 0 {
		s.JWTSVIDMaxLifetime = Duration(DefaultJWTSVIDMaxLifetime)
	}
	if s.MaxStale == 0 {
		s.MaxStale = Duration(DefaultSPIFFEMaxStale)
	}
	for name, td := range s.TrustDomains {
		if td.BundleEndpointURL != "" && td.BundleEndpointProfile == "" {
			td.BundleEndpointProfile = DefaultBundleEndpointProfile
			s.TrustDomains[name] = td
		}
	}
}

// validateSPIFFE checks federation.spiffe; each error names its key.
func (c *Config) validateSPIFFE() []error {
	s := &c.Federation.SPIFFE
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, Errorf(key, format, a...)) }
	const base = "federation.spiffe."
	if len(s.TrustDomains) == 0 {
		return nil
	}
	if s.RefreshMin <= 0 || s.RefreshMax < s.RefreshMin || time.Duration(s.RefreshMax) > 24*time.Hour {
		bad(base+"refresh_min, "+base+"refresh_max", "need 0 < refresh_min <= refresh_max <= 24h")
	}
	if s.Timeout <= 0 || time.Duration(s.Timeout) > time.Minute {
		bad(base+"timeout", "must be between 0 and 1m")
	}
	if s.JWTSVIDMaxLifetime <= 0 || time.Duration(s.JWTSVIDMaxLifetime) > 24*time.Hour {
		bad(base+"jwt_svid_max_lifetime", "must be between 0 and 24h")
	}
	if s.MaxStale < s.RefreshMax || time.Duration(s.MaxStale) > 30*24*time.Hour {
		bad(base+"max_stale", "must be between refresh_max and 720h")
	}
	names := make([]string, 0, len(s.TrustDomains))
	for n := range s.TrustDomains {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		td := s.TrustDomains[name]
		key := base + "trust_domains." + name
		if t, err := spiffeid.TrustDomainFromString(name); err != nil || t.Name() != name {
			bad(key, "%q is not a trust domain name (lower case, no scheme)", name)
		}
		n := 0
		for _, set := range []bool{td.BundleEndpointURL != "", td.BundleFile != "" && td.BundleEndpointURL == "", td.WorkloadAPISocket != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad(key, "needs exactly one of bundle_endpoint_url, bundle_file, workload_api_socket")
		}
		if td.WorkloadAPISocket != "" && !strings.HasPrefix(td.WorkloadAPISocket, "unix://") && !strings.HasPrefix(td.WorkloadAPISocket, "tcp://") {
			bad(key+".workload_api_socket", "%q is not a unix:// or tcp:// address", td.WorkloadAPISocket)
		}
		if td.BundleEndpointURL == "" {
			if td.BundleEndpointProfile != "" || td.EndpointSPIFFEID != "" || td.EndpointCAFile != "" {
				bad(key, "bundle_endpoint_profile, endpoint_spiffe_id and endpoint_ca_file need bundle_endpoint_url")
			}
			continue
		}
		if u, err := url.Parse(td.BundleEndpointURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			bad(key+".bundle_endpoint_url", "%q is not an https URL", td.BundleEndpointURL)
		}
		switch td.BundleEndpointProfile {
		case "https_web":
			if td.EndpointSPIFFEID != "" || td.BundleFile != "" {
				bad(key, "https_web takes no endpoint_spiffe_id or bundle_file")
			}
		case "https_spiffe":
			if _, err := spiffeid.FromString(td.EndpointSPIFFEID); err != nil {
				bad(key+".endpoint_spiffe_id", "https_spiffe needs the endpoint's SPIFFE ID: %v", err)
			}
			if td.BundleFile == "" {
				bad(key+".bundle_file", "https_spiffe needs the initial bundle of the endpoint's trust domain")
			}
			if td.EndpointCAFile != "" {
				bad(key+".endpoint_ca_file", "https_spiffe authenticates the endpoint with the bundle, not a CA file")
			}
		default:
			bad(key+".bundle_endpoint_profile", "%q is not https_web or https_spiffe", td.BundleEndpointProfile)
		}
	}
	return errs
}
