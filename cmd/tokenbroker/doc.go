// Command tokenbroker is the OAuth 2.0 client-credentials authorization
// server and its operator CLI. Flags, the configuration file and the
// environment are read here and only here.
//
//	tokenbroker serve --dev                 # zero-config dev broker on https://127.0.0.1:8443
//	tokenbroker serve --config broker.yaml  # production
//	tokenbroker clients create --name billing --method client_secret_basic --scope read
//	tokenbroker keys rotate
//	tokenbroker config check broker.yaml
package main
