package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const exampleFile = "../../configs/proxy.yaml"

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

func TestExampleFileIsDefault(t *testing.T) {
	f, err := os.Open(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Parsing over the zero Config proves the file sets every field.
	got, err := Parse(f, Config{})
	if err != nil {
		t.Fatalf("Parse(%s) error: %v", exampleFile, err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(%s) =\n%+v\nwant Default() =\n%+v", exampleFile, got, want)
	}
}

// TestExampleFileHasEveryField checks that the example file spells out every
// yaml field of Config, and nothing else, by path.
func TestExampleFileHasEveryField(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	got := nodePaths("", doc.Content[0])
	want := tagPaths("", reflect.TypeFor[Config]())
	for _, p := range want {
		if !slices.Contains(got, p) {
			t.Errorf("%s lacks field %s", exampleFile, p)
		}
	}
	for _, p := range got {
		if !slices.Contains(want, p) {
			t.Errorf("%s has field %s, which Config lacks", exampleFile, p)
		}
	}
	// Every field with an environment variable documents it in the file.
	for _, name := range EnvNames() {
		if !strings.Contains(string(data), name) {
			t.Errorf("%s does not mention %s", exampleFile, name)
		}
	}
}

// tagPaths lists the dotted yaml paths of t's leaf fields.
func tagPaths(prefix string, t reflect.Type) []string {
	var paths []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			panic("field " + f.Name + " has no yaml tag")
		}
		if f.Type.Kind() == reflect.Struct { // a map, such as limits.tenants, is one leaf
			paths = append(paths, tagPaths(prefix+tag+".", f.Type)...)
			continue
		}
		paths = append(paths, prefix+tag)
	}
	return paths
}

// nodePaths lists the dotted paths of the leaf keys in mapping n.
func nodePaths(prefix string, n *yaml.Node) []string {
	var paths []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			paths = append(paths, nodePaths(prefix+k+".", v)...)
			continue
		}
		paths = append(paths, prefix+k)
	}
	return paths
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	yml := "listen: \":1000\"\nadmin_listen: \":2000\"\nupstream:\n  timeout: 5s\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := mapEnv(map[string]string{"RZPGATE_LISTEN": ":3000", "RZPGATE_LOG_LEVEL": "WARN"})

	tests := []struct {
		desc   string
		path   string
		lookup func(string) (string, bool)
		want   func(*Config)
	}{
		{desc: "defaults only", want: func(*Config) {}},
		{desc: "file over defaults", path: file, want: func(c *Config) {
			c.Listen, c.AdminListen, c.Upstream.Timeout = ":1000", ":2000", Duration(5e9)
		}},
		{desc: "env over defaults", lookup: env, want: func(c *Config) {
			c.Listen, c.Log.Level = ":3000", "warn"
		}},
		{desc: "env over file over defaults", path: file, lookup: env, want: func(c *Config) {
			c.Listen, c.AdminListen, c.Upstream.Timeout, c.Log.Level = ":3000", ":2000", Duration(5e9), "warn"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := Load(tt.path, tt.lookup)
			if err != nil {
				t.Fatalf("Load error: %v", err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("upstream:\n  timeuot: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc   string
		path   string
		lookup func(string) (string, bool)
		want   []string // substrings of the error
	}{
		{desc: "missing file", path: filepath.Join(dir, "none.yaml"), want: []string{"none.yaml"}},
		{desc: "unknown field", path: bad, want: []string{"bad.yaml", "upstream.timeuot", "unknown field"}},
		{desc: "bad env", lookup: mapEnv(map[string]string{"RZPGATE_REDIS_DB": "x"}), want: []string{"RZPGATE_REDIS_DB"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Load(tt.path, tt.lookup)
			if err == nil {
				t.Fatalf("Load error = nil, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLogSlogLevel(t *testing.T) {
	for _, tt := range []struct{ level, want string }{
		{"debug", "DEBUG"}, {"info", "INFO"}, {"WARN", "WARN"}, {"error", "ERROR"},
		{"", "INFO"}, {"info+2", "INFO"}, {"loud", "INFO"},
	} {
		t.Run(tt.level, func(t *testing.T) {
			if got := (Log{Level: tt.level}).SlogLevel().String(); got != tt.want {
				t.Errorf("SlogLevel() = %s, want %s", got, tt.want)
			}
		})
	}
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestMemoryLimit(t *testing.T) {
	memory := Default()
	big := Default()
	big.Cache.MaxBytes = 1 << 30
	shared := Default()
	shared.Redis.URL = "redis://127.0.0.1:6379"
	shared.Redis.NearCache.Enabled = true
	for _, tt := range []struct {
		desc string
		cfg  Config
		want int64
	}{
		{"memory mode, default 256 MiB cache", memory, 384 << 20},
		{"memory mode, 1 GiB cache", big, (1280 + 64) << 20},
		{"shared mode", shared, 0},
	} {
		if got := tt.cfg.MemoryLimit(); got != tt.want {
			t.Errorf("%s: MemoryLimit() = %d; want %d", tt.desc, got, tt.want)
		}
	}
}
