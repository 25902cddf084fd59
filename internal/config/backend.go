package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Backend is the backend key: its type, and one section per backend kind
// (backend.vault, backend.awssm, …) whose keys are named after the fields
// of the settings struct that kind registered with RegisterBackend — a
// field CACert is the key ca_cert. This package names no backend: the
// process runtime registers each one the binary holds, so adding a
// backend touches the backend's package only.
type Backend struct {
	// Type is the backend kind (default DefaultBackend).
	Type     string
	sections map[string]any // kind → its *Settings, made on first use
}

// DefaultBackend is backend.type when unset.
const DefaultBackend = "file"

var (
	backendMu    sync.RWMutex
	backendKinds = map[string]func() any{}
)

// RegisterBackend declares the section backend.NAME: newSettings returns a
// new zero pointer to a struct of plain fields (string, bool, int, int64,
// float64, time.Duration, []string, nested structs). It panics on a name
// registered twice.
func RegisterBackend(name string, newSettings func() any) {
	backendMu.Lock()
	defer backendMu.Unlock()
	if _, dup := backendKinds[name]; dup || name == "" || name == "type" {
		panic("config: backend section " + name + " registered twice")
	}
	if v := reflect.ValueOf(newSettings()); v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic("config: backend section " + name + " is not a pointer to a struct")
	}
	backendKinds[name] = newSettings
}

// backendNames lists the registered sections, sorted.
func backendNames() []string {
	backendMu.RLock()
	defer backendMu.RUnlock()
	return slices.Sorted(maps.Keys(backendKinds))
}

// Section returns the settings of backend.NAME (a pointer the caller may
// fill), or nil when no backend registered name.
func (b *Backend) Section(name string) any {
	if s, ok := b.sections[name]; ok {
		return s
	}
	backendMu.RLock()
	newSettings, ok := backendKinds[name]
	backendMu.RUnlock()
	if !ok {
		return nil
	}
	if b.sections == nil {
		b.sections = map[string]any{}
	}
	s := newSettings()
	b.sections[name] = s
	return s
}

// Settings returns the settings of backend.NAME as loaded, or nil when
// neither the file, the environment nor a Section call set any. Unlike
// Section it never writes to b, so readers may share a Config.
func (b *Backend) Settings(name string) any { return b.sections[name] }

// BackendKey is the configuration key of field (a Go path, "Auth.TokenFile")
// of backend kind's settings: backend.vault.auth.token_file.
func BackendKey(kind, field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		parts[i] = keyName(p)
	}
	return "backend." + kind + "." + strings.Join(parts, ".")
}

// keyName is the key of a Go field name: words in lower case joined by
// "_", an initialism one word (CACert → ca_cert, KMSKeyID → kms_key_id).
func keyName(field string) string {
	r := []rune(field)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// UnmarshalYAML decodes the backend mapping strictly: a key that is not
// type or a registered section, or not a field of its section, is an
// error. Errors are *yaml.TypeError lines, so that Load names their keys
// and reports them all.
func (b *Backend) UnmarshalYAML(n *yaml.Node) error {
	var errs []string
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal !!%s `%s` into config.Backend", n.Line, shortTag(n), n.Value)}}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "type" {
			collect(&errs, v.Decode(&b.Type))
			continue
		}
		s := b.Section(k.Value)
		if s == nil {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type config.Backend", k.Line, k.Value))
			continue
		}
		decodeStruct(v, reflect.ValueOf(s).Elem(), &errs)
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// decodeStruct decodes mapping n into the struct v, its keys named by keyName.
func decodeStruct(n *yaml.Node, v reflect.Value, errs *[]string) {
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, fmt.Sprintf("line %d: cannot unmarshal !!%s `%s` into struct", n.Line, shortTag(n), n.Value))
		return
	}
	fields := fieldsByKey(v)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			*errs = append(*errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, v.Type()))
			continue
		}
		switch {
		case f.Kind() == reflect.Struct:
			decodeStruct(val, f, errs)
		case f.Type() == reflect.TypeFor[time.Duration]():
			// As Duration: a unit is required ("30" is not 30ns).
			var d Duration
			collect(errs, val.Decode(&d))
			f.SetInt(int64(d))
		default:
			collect(errs, val.Decode(f.Addr().Interface()))
		}
	}
}

// fieldsByKey maps the keys of struct v's exported fields to the fields.
func fieldsByKey(v reflect.Value) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() {
			out[keyName(f.Name)] = v.Field(i)
		}
	}
	return out
}

// collect adds a decode error's lines to errs.
func collect(errs *[]string, err error) {
	if err == nil {
		return
	}
	if te, ok := err.(*yaml.TypeError); ok {
		*errs = append(*errs, te.Errors...)
		return
	}
	*errs = append(*errs, err.Error())
}

func shortTag(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "seq"
	}
	return strings.TrimPrefix(n.ShortTag(), "!!")
}

// envFields adds the environment variables of the backend section to
// out: TOKENBROKER_BACKEND_TYPE and, for every registered section, one per
// field (TOKENBROKER_BACKEND_VAULT_AUTH_TOKEN_FILE). keys, when not nil,
// gets each variable's dotted key.
func (b *Backend) envFields(prefix, path string, out map[string]reflect.Value, keys map[string]string) {
	add := func(env, key string, f reflect.Value) {
		if out != nil {
			out[env] = f
		}
		if keys != nil {
			keys[env] = key
		}
	}
	add(prefix+"TYPE", path+".type", reflect.ValueOf(&b.Type).Elem())
	var walk func(v reflect.Value, env, key string)
	walk = func(v reflect.Value, env, key string) {
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			name := keyName(sf.Name)
			if f := v.Field(i); f.Kind() == reflect.Struct {
				walk(f, env+strings.ToUpper(name)+"_", key+"."+name)
			} else {
				add(env+strings.ToUpper(name), key+"."+name, f)
			}
		}
	}
	for _, kind := range backendNames() {
		walk(reflect.ValueOf(b.Section(kind)).Elem(), prefix+strings.ToUpper(kind)+"_", path+"."+kind)
	}
}
