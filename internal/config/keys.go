package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keyPaths maps each line of a YAML document to the dotted key path it
// holds (tokens.lifetime). A line that holds several keys — a flow mapping
// such as {per_second: 1, burst: x} — maps to their common parent.
func keyPaths(doc []byte) map[int]string {
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return nil
	}
	paths := map[int]string{}
	record := func(line int, p string) {
		if old, ok := paths[line]; ok && old != p {
			p = commonKeyPrefix(old, p)
		}
		paths[line] = p
	}
	var walk func(n *yaml.Node, p string)
	walk = func(n *yaml.Node, p string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := p + n.Content[i].Value
				if p != "" {
					k = p + "." + n.Content[i].Value
				}
				record(n.Content[i].Line, k)
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				record(c.Line, p)
				walk(c, p)
			}
		case yaml.ScalarNode:
			if p != "" {
				record(n.Line, p)
			}
		}
	}
	walk(&root, "")
	return paths
}

func commonKeyPrefix(a, b string) string {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	n := 0
	for n < len(as) && n < len(bs) && as[n] == bs[n] {
		n++
	}
	return strings.Join(as[:n], ".")
}

var (
	lineMsg    = regexp.MustCompile(`^line (\d+): (.*)$`)
	cannotInto = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	notFound   = regexp.MustCompile(`^field (\S+) not found in type `)
)

// keyedDecodeError rewrites the YAML decoder's "line N: …" errors so that
// each names its key: "tokens.lifetime: "banana" is not a duration like 30s
// or 5m (line 5)". Errors without a line (syntax) pass through.
func keyedDecodeError(doc []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	paths := keyPaths(doc)
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := lineMsg.FindStringSubmatch(e)
		if m == nil {
			errs = append(errs, errors.New(e))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		msg := m[2]
		if c := cannotInto.FindStringSubmatch(msg); c != nil {
			msg = fmt.Sprintf("%q is not %s", c[2], yamlTypeName(c[3]))
			if c[1] == "map" || c[1] == "seq" {
				msg = fmt.Sprintf("a %s is not %s", map[string]string{"map": "mapping", "seq": "list"}[c[1]], yamlTypeName(c[3]))
			}
		} else if notFound.MatchString(msg) {
			msg = "unknown key"
		}
		key := paths[line]
		if key == "" {
			key = "(top level)"
		}
		errs = append(errs, fmt.Errorf("%s: %s (line %d)", key, msg, line))
	}
	return errors.Join(errs...)
}

// yamlTypeName says in words what a configuration field holds.
func yamlTypeName(goType string) string {
	switch goType {
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number"
	case "bool", "*bool":
		return "true or false"
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "config.Duration", "time.Duration":
		return "a duration like 30s or 5m"
	}
	if strings.HasPrefix(goType, "config.") || strings.HasPrefix(goType, "struct") {
		return "a mapping"
	}
	return "a " + goType
}

// EnvKeys maps each TOKENBROKER_* variable to the dotted key it sets.
func EnvKeys() map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, env, path string)
	walk = func(t reflect.Type, env, path string) {
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			e, p := env+strings.ToUpper(name), name
			if path != "" {
				p = path + "." + name
			}
			if f := t.Field(i).Type; f == reflect.TypeFor[Backend]() {
				new(Backend).envFields(e+"_", p, nil, out)
			} else if f.Kind() == reflect.Struct {
				walk(f, e+"_", p)
			} else {
				out[e] = p
			}
		}
	}
	walk(reflect.TypeOf(Config{}), EnvPrefix, "")
	return out
}
