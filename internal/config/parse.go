package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretFields are the field paths whose values errors must not echo.
var secretFields = map[string]bool{
	"cache.key_secret": true,
	"redis.password":   true,
	"redis.url":        true,
	"webhooks.secrets": true,
	"webhooks.forward": true, // its URLs may hold credentials or tokens
}

// Parse decodes one YAML document from r over base and returns the result.
// Fields absent from the document, or null in it, keep base's values; empty
// input returns base unchanged. Decoding is strict: an unknown or repeated
// field, a value of the wrong type or a second document is an error that
// names the field's path, such as "upstream.timeout". Parse does not
// validate.
func Parse(r io.Reader, base Config) (Config, error) {
	// Parse walks the YAML tree itself rather than decoding with
	// yaml.Decoder.KnownFields, whose errors name only the Go type ("field x
	// not found in type config.Upstream"), not the path the user wrote, and
	// quote values verbatim, secrets included.
	dec := yaml.NewDecoder(r)
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return base, nil
	} else if err != nil {
		return Config{}, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("line %d: only one YAML document is allowed", extra.Line)
	}
	c := base
	c.Redis.Addrs = slices.Clone(base.Redis.Addrs) // Never share base's arrays.
	c.Webhooks.Secrets = slices.Clone(base.Webhooks.Secrets)
	c.Webhooks.Forward = slices.Clone(base.Webhooks.Forward)
	c.Limits.Tenants = maps.Clone(base.Limits.Tenants)
	if len(doc.Content) > 0 {
		if err := decode("", doc.Content[0], reflect.ValueOf(&c).Elem()); err != nil {
			return Config{}, err
		}
	}
	c.normalize()
	return c, nil
}

// normalize puts c in the canonical form Parse and ApplyEnv return, so that
// equal settings compare equal.
func (c *Config) normalize() {
	if l := strings.ToLower(c.Log.Level); isLevel(l) {
		c.Log.Level = l
	}
	if len(c.Redis.Addrs) == 0 {
		c.Redis.Addrs = nil
	}
	if len(c.Webhooks.Secrets) == 0 {
		c.Webhooks.Secrets = nil
	}
	if len(c.Webhooks.Forward) == 0 {
		c.Webhooks.Forward = nil
	}
	if len(c.Limits.Tenants) == 0 {
		c.Limits.Tenants = nil
	}
	c.Limits.TenantFrom = strings.ToLower(c.Limits.TenantFrom)
}

// decode stores n into v, where path names v for errors.
func decode(path string, n *yaml.Node, v reflect.Value) error {
	if v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String && v.Type().Elem().Kind() == reflect.Struct {
		return decodeMap(path, n, v)
	}
	if v.Kind() != reflect.Struct {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return fmt.Errorf("%s: line %d: %s", path, n.Line, leafProblem(path, n, v, err))
		}
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: must be a mapping of fields", displayPath(path), n.Line)
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: line %d: field names must be plain strings", displayPath(path), k.Line)
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if line, dup := seen[k.Value]; dup {
			return fmt.Errorf("%s: line %d: already set on line %d", p, k.Line, line)
		}
		seen[k.Value] = k.Line
		f, ok := fieldByTag(v, k.Value)
		if !ok {
			return fmt.Errorf("%s: line %d: unknown field", p, k.Line)
		}
		if err := decode(p, n.Content[i+1], f); err != nil {
			return err
		}
	}
	return nil
}

// decodeMap stores a mapping of names to structs, such as limits.tenants,
// decoding each value as strictly as the rest of the file; path.name names
// an entry for errors. Entries replace the base's map whole.
func decodeMap(path string, n *yaml.Node, v reflect.Value) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: must be a mapping of names", displayPath(path), n.Line)
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return fmt.Errorf("%s: line %d: names must be plain, non-empty strings", displayPath(path), k.Line)
		}
		p := path + "." + k.Value
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			return fmt.Errorf("%s: line %d: already set", p, k.Line)
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if err := decode(p, n.Content[i+1], e); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	}
	v.Set(m)
	return nil
}

// displayPath names the document's root for errors about it.
func displayPath(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

// fieldByTag returns the field of struct v whose yaml tag is name.
func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// leafProblem describes why decoding n into v failed. yaml's own messages
// quote the offending value, so they are replaced by one that names only the
// wanted type, and for secret fields never shows the value.
func leafProblem(path string, n *yaml.Node, v reflect.Value, err error) string {
	var want string
	switch v.Interface().(type) {
	case Duration, ByteSize:
		if !secretFields[path] {
			return err.Error() // Their own messages, written for users.
		}
	case string:
		want = "a string"
	case int:
		want = "an integer"
	case bool:
		want = "true or false"
	case []string:
		want = "a list of strings"
	}
	if want == "" {
		want = "a " + v.Type().String()
	}
	if secretFields[path] || n.Kind != yaml.ScalarNode {
		return "must be " + want
	}
	return fmt.Sprintf("must be %s, got %q", want, n.Value)
}
