package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the YAML configuration file. Every key can also be set from
// the environment: TOKENBROKER_ + the key path in upper case joined by "_",
// e.g. tokens.default_audience → TOKENBROKER_TOKENS_DEFAULT_AUDIENCE. Lists
// from the environment are comma-separated. The environment wins over the file.
type Config struct {
	Issuer string `yaml:"issuer"`
	Listen string `yaml:"listen"`
	TLS    struct {
		CertFile       string   `yaml:"cert_file"`
		KeyFile        string   `yaml:"key_file"`
		ClientCAFiles  []string `yaml:"client_ca_files"`
		CRLFiles       []string `yaml:"crl_files"`
		CRLURLs        []string `yaml:"crl_urls"`
		CRLFailClosed  *bool    `yaml:"crl_fail_closed"` // default true: a stale CRL refuses its issuer's certificates
		ReloadInterval Duration `yaml:"reload_interval"`
	} `yaml:"tls"`
	MTLS struct {
		Listen  string `yaml:"listen"`
		BaseURL string `yaml:"base_url"`
	} `yaml:"mtls"`
	Proxy struct {
		Format         string   `yaml:"format"`
		Header         string   `yaml:"header"`
		TrustedProxies []string `yaml:"trusted_proxies"`
		AddressHeader  string   `yaml:"address_header"`
	} `yaml:"proxy"`
	Assertions struct {
		AudienceCompat *bool    `yaml:"audience_compat"`
		MaxLifetime    Duration `yaml:"max_lifetime"`
		ClockSkew      Duration `yaml:"clock_skew"`
		MaxSize        int      `yaml:"max_size"`
	} `yaml:"assertions"`
	JWKSURI struct {
		AllowPrivate bool     `yaml:"allow_private"`
		Timeout      Duration `yaml:"timeout"`
	} `yaml:"jwks_uri"`
	// Backend is backend.type and one section per registered backend kind.
	Backend Backend `yaml:"backend"`
	Signing struct {
		Type    string `yaml:"type"`
		Transit struct {
			Mount string `yaml:"mount"`
			Key   string `yaml:"key"`
		} `yaml:"transit"`
		AWSKMS AWSKMS `yaml:"aws_kms"`
	} `yaml:"signing"`
	Tokens struct {
		Lifetime        Duration `yaml:"lifetime"`
		MaxLifetime     Duration `yaml:"max_lifetime"`
		DefaultAudience string   `yaml:"default_audience"`
		SigningAlg      string   `yaml:"signing_alg"`
	} `yaml:"tokens"`
	ScopesSupported []string `yaml:"scopes_supported"`
	Registration    struct {
		InitialAccessTokenFile string   `yaml:"initial_access_token_file"`
		AllowedResources       []string `yaml:"allowed_resources"`
	} `yaml:"registration"`
	Keys struct {
		JWKSMaxAge Duration `yaml:"jwks_max_age"`
		Refresh    Duration `yaml:"refresh"`
	} `yaml:"keys"`
	Secrets struct {
		RotationGrace Duration `yaml:"rotation_grace"`
	} `yaml:"secrets"`
	Cache struct {
		TTL         Duration `yaml:"ttl"`
		StaleWindow Duration `yaml:"stale_window"`
		MaxEntries  int      `yaml:"max_entries"`
	} `yaml:"cache"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Admin struct {
		Listen string `yaml:"listen"`
		Pprof  bool   `yaml:"pprof"`
	} `yaml:"admin"`
	Audit struct {
		File         string `yaml:"file"`
		Chain        bool   `yaml:"chain"`
		ChainKeyFile string `yaml:"chain_key_file"`
		FailClosed   bool   `yaml:"fail_closed"`
	} `yaml:"audit"`
	SharedState struct {
		Type                    string `yaml:"type"`
		MaxJTIsPerClient        int    `yaml:"max_jtis_per_client"`
		MaxRevocationsPerClient int    `yaml:"max_revocations_per_client"`
		Redis                   struct {
			Addrs        []string `yaml:"addrs"`
			PasswordFile string   `yaml:"password_file"`
			TLS          bool     `yaml:"tls"`
			Prefix       string   `yaml:"prefix"`
		} `yaml:"redis"`
	} `yaml:"shared_state"`
	// Federation: federated issuers and client templates (federation.go).
	Federation Federation `yaml:"federation"`
	// DPoP tunes RFC 9449 proofs at the token endpoint (always offered).
	DPoP struct {
		ProofMaxAge   Duration `yaml:"proof_max_age"`
		Nonces        bool     `yaml:"nonces"`
		NonceKeyFile  string   `yaml:"nonce_key_file"`
		NonceLifetime Duration `yaml:"nonce_lifetime"`
	} `yaml:"dpop"`
	RateLimits struct {
		FailedPerClient   Rate `yaml:"failed_per_client"`
		FailedPerAddress  Rate `yaml:"failed_per_address"`
		IssuancePerClient Rate `yaml:"issuance_per_client"`
		Registrations     Rate `yaml:"registrations"`
	} `yaml:"rate_limits"`
}

// AWSKMS is signing.aws_kms: the keys of signing.type aws-kms.
type AWSKMS struct {
	// Key: an alias (alias/tokenbroker; rotation needs one), key id or key ARN.
	Key string `yaml:"key"`
	// Keys: more key ids or ARNs to publish in the JWKS.
	Keys     []string `yaml:"keys"`
	Region   string   `yaml:"region"`
	Endpoint string   `yaml:"endpoint"`
	// Concurrency: Sign calls in flight (default 8); MaxQueue: signatures
	// waiting (default 1024); QueueWait: the longest wait for a slot or a
	// throttling backoff (default 1s); Timeout: each KMS call (default 2s).
	Concurrency int      `yaml:"concurrency"`
	MaxQueue    int      `yaml:"max_queue"`
	QueueWait   Duration `yaml:"queue_wait"`
	Timeout     Duration `yaml:"timeout"`
}

// Rate is a token bucket in the configuration.
type Rate struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     float64 `yaml:"burst"`
}

// Duration is a time.Duration written as "5m", "30s".
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		// A TypeError lets the decoder go on (every bad value is reported)
		// and keyedDecodeError name the key.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration like 30s or 5m", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// EnvPrefix starts every environment variable that sets a key.
const EnvPrefix = "TOKENBROKER_"

// Load reads path (may be empty: environment only), then applies the environment.
func Load(path string, environ []string) (*Config, error) {
	var fc Config
	if path != "" {
		b, err := ReadLimited(path, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true) // a misspelled key is an error, not a silent default
		if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s:\n%w", path, keyedDecodeError(b, err))
		}
	}
	if err := ApplyEnv(&fc, environ); err != nil {
		return nil, err
	}
	return &fc, nil
}

// ApplyEnv sets fields from TOKENBROKER_* variables and rejects unknown ones.
func ApplyEnv(fc *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collectFields(reflect.ValueOf(fc).Elem(), EnvPrefix, fields)
	keys := EnvKeys()
	var errs []error
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvPrefix) || k == EnvPrefix+"CONFIG" {
			continue
		}
		f, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Errorf("environment: %s is not a configuration key", k))
			continue
		}
		if err := setField(f, v); err != nil {
			errs = append(errs, fmt.Errorf("environment: %s (%s): %w", k, keys[k], err))
		}
	}
	return errors.Join(errs...)
}

func collectFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		key := prefix + strings.ToUpper(name)
		if b, ok := v.Field(i).Addr().Interface().(*Backend); ok {
			b.envFields(key+"_", name, out, nil)
			continue
		}
		if f := v.Field(i); f.Kind() == reflect.Struct {
			collectFields(f, key+"_", out)
		} else {
			out[key] = f
		}
	}
}

func setField(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case Duration, time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 30s or 5m", s)
		}
		f.SetInt(int64(d))
	case string:
		f.SetString(s)
	case float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(n)
	case int, int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetInt(n)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.Set(reflect.ValueOf(&b))
	case []string:
		var l []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				l = append(l, p)
			}
		}
		f.Set(reflect.ValueOf(l))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

func ReadLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}
