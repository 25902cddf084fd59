// Package compose holds the tests of the repository's docker-compose.yml:
// each profile (vault, aws) is loaded with the compose-spec loader
// (compose-go) and checked against what exists — the image it builds from
// deploy/Containerfile, the CLI commands and flags it runs, the broker
// configuration files it mounts (loaded strictly and dry-run against the
// PKI that .ci/compose/pki.sh really makes), the ports the image exposes and
// the nginx front's trusted address. No container engine runs here.
//
//	cd deploy && go test ./compose
package compose
