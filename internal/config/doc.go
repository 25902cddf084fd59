// Package config is tokenbroker's configuration: the YAML file and the
// TOKENBROKER_* environment parsed into one Config, its defaults filled in
// one place and its keys validated without side effects. It is the only
// package that names configuration keys: libraries take typed options and
// return typed errors, which KeyOf maps back to the key an operator sets.
//
// The one exception is the backend section: each backend kind the binary
// holds registers its settings struct (RegisterBackend, done by the process
// runtime for every backends.Register), and the keys of backend.NAME are
// its field names in snake case (CACert → ca_cert; BackendKey), from the
// file and the environment alike, decoded as strictly as the rest.
//
//	c, err := config.Load("broker.yaml", os.Environ())
//	if err != nil {
//		return err // every error names its key: "tokens.lifetime: …"
//	}
//	if err := c.Validate(); err != nil { // fills defaults, opens nothing
//		return err
//	}
package config
