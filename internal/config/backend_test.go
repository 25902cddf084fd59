package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/config"
)

// testSettings is a backend's settings as a backend package declares them:
// plain fields, no configuration keys.
type testSettings struct {
	Address    string
	CACert     string
	KMSKeyID   string
	Timeout    time.Duration
	Days       int64
	PKIMounts  []string
	ReadOnly   bool
	Auth       struct{ Method, SecretIDFile string }
	unexported string
}

func init() {
	config.RegisterBackend("testkv", func() any { return new(testSettings) })
}

// A backend section is decoded strictly, from the file and the
// environment, its keys named after the settings' fields; every error
// names its key.
func TestBackendSection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "ok.yaml")
	doc := "backend:\n  type: testkv\n  testkv:\n    address: https://v\n    ca_cert: /ca.pem\n    kms_key_id: k\n    timeout: 3s\n    days: 7\n    pki_mounts: [pki, pki2]\n    auth:\n      method: approle\n"
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := config.Load(p, []string{"TOKENBROKER_BACKEND_TESTKV_AUTH_SECRET_ID_FILE=/s", "TOKENBROKER_BACKEND_TESTKV_READ_ONLY=true"})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := fc.Backend.Settings("testkv").(*testSettings)
	if !ok || fc.Backend.Type != "testkv" {
		t.Fatalf("settings %T %q", fc.Backend.Settings("testkv"), fc.Backend.Type)
	}
	if (&config.Backend{}).Settings("testkv") != nil {
		t.Fatal("Settings made a section")
	}
	want := testSettings{Address: "https://v", CACert: "/ca.pem", KMSKeyID: "k", Timeout: 3 * time.Second, Days: 7, PKIMounts: []string{"pki", "pki2"}, ReadOnly: true}
	want.Auth.Method, want.Auth.SecretIDFile = "approle", "/s"
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got %+v\nwant %+v", *got, want)
	}
	keys := config.EnvKeys()
	for env, key := range map[string]string{
		"TOKENBROKER_BACKEND_TYPE":                       "backend.type",
		"TOKENBROKER_BACKEND_TESTKV_CA_CERT":             "backend.testkv.ca_cert",
		"TOKENBROKER_BACKEND_TESTKV_AUTH_SECRET_ID_FILE": "backend.testkv.auth.secret_id_file",
	} {
		if keys[env] != key {
			t.Errorf("EnvKeys[%s] = %q, want %q", env, keys[env], key)
		}
	}
	if _, ok := keys["TOKENBROKER_BACKEND_TESTKV_UNEXPORTED"]; ok {
		t.Error("an unexported field became a key")
	}

	for _, tc := range []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{"unknown section", "backend:\n  etcd:\n    x: 1\n", nil, []string{"backend.etcd: unknown key (line 2)"}},
		{"unknown field", "backend:\n  testkv:\n    adress: x\n", nil, []string{"backend.testkv.adress: unknown key (line 3)"}},
		{"unexported field", "backend:\n  testkv:\n    unexported: x\n", nil, []string{"backend.testkv.unexported: unknown key"}},
		{"nested unknown", "backend:\n  testkv:\n    auth:\n      methd: token\n", nil, []string{"backend.testkv.auth.methd: unknown key (line 4)"}},
		{"bad duration", "backend:\n  testkv:\n    timeout: soon\n", nil, []string{`backend.testkv.timeout: "soon" is not a duration like 30s or 5m`}},
		{"duration without a unit", "backend:\n  testkv:\n    timeout: 30\n", nil, []string{`backend.testkv.timeout: "30" is not a duration like 30s or 5m (line 3)`}},
		{"several", "backend:\n  testkv:\n    days: many\n    read_only: maybe\n", nil, []string{`backend.testkv.days: "many" is not a whole number`, "backend.testkv.read_only:"}},
		{"section a scalar", "backend:\n  testkv: yes\n", nil, []string{"backend.testkv: \"yes\" is not a mapping"}},
		{"backend a list", "backend: [a]\n", nil, []string{"backend: a list is not a mapping"}},
		{"list a mapping", "backend:\n  testkv:\n    pki_mounts: {a: b}\n", nil, []string{"backend.testkv.pki_mounts: a mapping is not a list of strings"}},
		{"env duration", "", []string{"TOKENBROKER_BACKEND_TESTKV_TIMEOUT=soon"}, []string{"TOKENBROKER_BACKEND_TESTKV_TIMEOUT (backend.testkv.timeout)", `"soon"`}},
		{"env unknown", "", []string{"TOKENBROKER_BACKEND_ETCD_ADDRESS=x"}, []string{"TOKENBROKER_BACKEND_ETCD_ADDRESS is not a configuration key"}},
	} {
		t.Run(tc.name, func(t *testing.T) { requireLoadError(t, dir, tc.name, tc.yaml, tc.env, tc.want) })
	}
}

// A settings field's key: words joined by "_", an initialism one word.
func TestBackendKey(t *testing.T) {
	t.Parallel()
	for field, want := range map[string]string{
		"Dir":               "backend.k.dir",
		"CACert":            "backend.k.ca_cert",
		"KMSKeyID":          "backend.k.kms_key_id",
		"PKIMounts":         "backend.k.pki_mounts",
		"PreviousGrace":     "backend.k.previous_grace",
		"Auth.SecretIDFile": "backend.k.auth.secret_id_file",
		"Auth.RoleID":       "backend.k.auth.role_id",
		"ReadOnly":          "backend.k.read_only",
	} {
		if got := config.BackendKey("k", field); got != want {
			t.Errorf("BackendKey(k, %s) = %q, want %q", field, got, want)
		}
	}
}
