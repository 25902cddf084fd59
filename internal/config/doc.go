// Package config is tokenbroker's configuration: the YAML file and the
// TOKENBROKER_* environment parsed into one Config, its defaults filled in
// one place and its keys validated without side effects. It is the only
// package that names configuration keys: libraries take typed options and
// return typed errors, which KeyOf maps back to the key an operator sets.
//
//	c, err := config.Load("broker.yaml", os.Environ())
//	if err != nil {
//		return err // every error names its key: "tokens.lifetime: …"
//	}
//	if err := c.Validate(); err != nil { // fills defaults, opens nothing
//		return err
//	}
package config
