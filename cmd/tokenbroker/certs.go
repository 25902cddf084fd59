package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
)

// certsClientCommand issues client certificates from the dev client CA (or
// any CA given with --ca/--ca-key), for tls_client_auth clients.
func certsClientCommand(fs *flag.FlagSet) runFunc {
	stateDir := fs.String("state-dir", defaultDevState, "dev-mode state `DIR` holding client-ca.pem and client-ca-key.pem")
	caPath := fs.String("ca", "", "CA certificate `FILE` (default STATE_DIR/client-ca.pem)")
	caKeyPath := fs.String("ca-key", "", "CA key `FILE` (default STATE_DIR/client-ca-key.pem)")
	cn := fs.String("cn", "", "subject common name (required)")
	org := fs.String("o", "", "subject organization")
	var uris, dns, ips, emails clientcli.ListFlag
	fs.Var(&uris, "uri", "URI SAN, e.g. spiffe://example.org/ns/payments/sa/api (repeat)")
	fs.Var(&dns, "dns", "DNS SAN (repeat)")
	fs.Var(&ips, "ip", "IP SAN (repeat)")
	fs.Var(&emails, "email", "email SAN (repeat)")
	validity := fs.Duration("validity", 90*24*time.Hour, "validity period")
	out := fs.String("out", "", "write PREFIX.pem and PREFIX-key.pem (default: the common name)")
	return func(_ context.Context, e env, _ []string) error {
		if *cn == "" {
			return errors.New("--cn is required")
		}
		if *caPath == "" {
			*caPath = filepath.Join(*stateDir, devClientCA)
		}
		if *caKeyPath == "" {
			*caKeyPath = filepath.Join(*stateDir, devClientCAKey)
		}
		leaf := certs.Leaf{CommonName: *cn, URIs: uris, DNSNames: dns, Emails: emails, Client: true, Validity: *validity}
		if *org != "" {
			leaf.Organization = []string{*org}
		}
		prefix := *out
		if prefix == "" {
			prefix = *cn
		}
		if err := issueClientCert(*caPath, *caKeyPath, leaf, ips, prefix); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s.pem and %s-key.pem\n", prefix, prefix)
		return nil
	}
}

// issueClientCert issues leaf (with the IP SANs ips) from the CA in caPath
// and caKeyPath, and writes PREFIX.pem and PREFIX-key.pem.
func issueClientCert(caPath, caKeyPath string, leaf certs.Leaf, ips []string, prefix string) error {
	cb, err1 := os.ReadFile(caPath)
	kb, err2 := os.ReadFile(caKeyPath)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	ca, err := certs.LoadCA(cb, kb)
	if err != nil {
		return err
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--ip %q is not an IP address", s)
		}
		leaf.IPs = append(leaf.IPs, ip)
	}
	certPEM, keyPEM, err := ca.Issue(leaf)
	if err != nil {
		return err
	}
	if err := os.WriteFile(prefix+".pem", certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(prefix+"-key.pem", keyPEM, 0o600)
}
