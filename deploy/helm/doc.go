// Package helm holds the tests of the Helm chart in tokenbroker/: every
// values example under tokenbroker/examples is rendered with the Helm
// library, each manifest decoded strictly into its Kubernetes API type, the
// rendered configuration loaded by the broker's own strict loader, and the
// probes, security context, disruption budget, network policy and secret
// wiring asserted. The package has no code of its own; run its tests with
//
//	cd deploy && go test ./helm
package helm
