package runtime

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// loadSPIFFE opens the trust domains of federation.spiffe (waiting for each
// one's first bundle) and adds the spiffe_x509 and spiffe_jwt methods. The
// bundles belong to the configuration: a reload opens them anew, and a
// reload whose bundles cannot be loaded fails and keeps the running one.
func (w *wiring) loadSPIFFE(ctx context.Context) error {
	s := w.fc.Federation.SPIFFE
	if len(s.TrustDomains) == 0 {
		return nil
	}
	domains, err := spiffeDomains(s)
	if err != nil {
		return err
	}
	tds, err := spiffe.New(ctx, domains, spiffe.WithLogger(w.log), spiffe.WithTimeout(time.Duration(s.Timeout)),
		spiffe.WithRefresh(time.Duration(s.RefreshMin), time.Duration(s.RefreshMax)), spiffe.WithMaxStale(time.Duration(s.MaxStale)))
	if err != nil {
		return config.Errorf("federation.spiffe.trust_domains", "%w", err)
	}
	w.closers = append(w.closers, tds)
	w.spiffe = tds
	jwtm, err := spiffe.JWTSVID(tds, spiffe.JWTConfig{Issuer: w.fc.Issuer, MaxSize: w.fc.Assertions.MaxSize, MaxLifetime: time.Duration(s.JWTSVIDMaxLifetime)})
	if err != nil {
		return err
	}
	w.cfg.Methods = append(w.cfg.Methods, spiffe.X509SVID(tds), jwtm)
	w.cfg.SPIFFEBundles = tds
	w.cfg.WrapClients = func(c authn.ClientSource) authn.ClientSource { return spiffe.Clients(c) }
	return nil
}

// spiffeDomains maps federation.spiffe.trust_domains to the library's
// domains, reading the files they name (bundles, CA files).
func spiffeDomains(s config.SPIFFE) ([]spiffe.Domain, error) {
	names := make([]string, 0, len(s.TrustDomains))
	for n := range s.TrustDomains {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []spiffe.Domain
	var errs []error
	for _, name := range names {
		c := s.TrustDomains[name]
		key := "federation.spiffe.trust_domains." + name
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			errs = append(errs, config.Errorf(key, "%w", err))
			continue
		}
		d := spiffe.Domain{TrustDomain: td, WorkloadAPI: c.WorkloadAPISocket}
		switch {
		case c.BundleEndpointURL != "":
			ep := &spiffe.Endpoint{URL: c.BundleEndpointURL, Profile: c.BundleEndpointProfile}
			if c.EndpointCAFile != "" {
				pool, err := loadPool([]string{c.EndpointCAFile})
				if err != nil {
					errs = append(errs, config.Errorf(key+".endpoint_ca_file", "%w", err))
					continue
				}
				ep.Roots = pool
			}
			if c.BundleEndpointProfile == spiffe.ProfileSPIFFE {
				id, err := spiffeid.FromString(c.EndpointSPIFFEID)
				if err != nil {
					errs = append(errs, config.Errorf(key+".endpoint_spiffe_id", "%w", err))
					continue
				}
				ep.SPIFFEID = id
				b, err := config.ReadLimited(c.BundleFile, spiffe.DefaultMaxBundleSize)
				if err == nil {
					ep.Initial, err = spiffebundle.Parse(id.TrustDomain(), b)
				}
				if err != nil {
					errs = append(errs, config.Errorf(key+".bundle_file", "%w", err))
					continue
				}
			}
			d.Endpoint = ep
		case c.BundleFile != "":
			d.BundleFile = c.BundleFile
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// checkSPIFFE is the dry run's part for federation.spiffe: it reads and
// parses the bundle and CA files the trust domains name, and connects to
// nothing (no bundle endpoint, no Workload API).
func checkSPIFFE(fc *config.Config) []error {
	s := fc.Federation.SPIFFE
	if len(s.TrustDomains) == 0 {
		return nil
	}
	var errs []error
	if _, err := spiffeDomains(s); err != nil {
		errs = append(errs, err)
	}
	for name, c := range s.TrustDomains {
		if c.BundleFile == "" || c.BundleEndpointURL != "" {
			continue // an https_spiffe initial bundle: spiffeDomains parsed it
		}
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			continue // Validate named it
		}
		b, err := config.ReadLimited(c.BundleFile, spiffe.DefaultMaxBundleSize)
		if err == nil {
			_, err = spiffe.ParseBundle(td, b, spiffe.DefaultMaxBundleSize)
		}
		if err != nil {
			errs = append(errs, config.Errorf("federation.spiffe.trust_domains."+name+".bundle_file", "%w", err))
		}
	}
	return errs
}
