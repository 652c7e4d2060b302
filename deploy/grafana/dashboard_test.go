package grafana

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// TestCommittedJSON fails when rzpgate.json is not what the code
// generates: the committed file is what operators import.
func TestCommittedJSON(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(File)
	if err != nil {
		t.Fatalf("reading the committed dashboard: %v", err)
	}
	if !bytes.Equal(got, want) {
		line, g, w := firstDiff(got, want)
		t.Errorf("deploy/grafana/%s differs from what the code generates, from line %d:\ncommitted: %s\ngenerated: %s\nrun `make dashboard` (cd deploy && go generate ./grafana) and commit it", File, line, g, w)
	}
	again, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, want) {
		t.Error("two runs generate different JSON")
	}
}

// firstDiff returns the first line (from 1) at which a and b differ, and
// that line of each.
func firstDiff(a, b []byte) (int, string, string) {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}

// variable matches a Grafana variable reference: $name or ${name}.
var variable = regexp.MustCompile(`\$\{?(\w+)\}?`)

func TestPanels(t *testing.T) {
	d, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	ids := map[uint32]bool{}
	for _, pr := range d.Panels {
		if pr.RowPanel != nil {
			ids[pr.RowPanel.Id] = true
			continue
		}
		p := pr.Panel
		var title string
		if p.Title != nil {
			title = *p.Title
		}
		t.Run(title, func(t *testing.T) {
			if title == "" || titles[title] {
				t.Errorf("title %q is empty or not unique", title)
			}
			titles[title] = true
			if p.Id == nil || ids[*p.Id] {
				t.Errorf("id %v is missing or not unique", p.Id)
			} else {
				ids[*p.Id] = true
			}
			if p.Description == nil || *p.Description == "" {
				t.Error("no description: say what the panel shows and what to look for")
			}
			if p.Datasource == nil || *p.Datasource.Uid != "${datasource}" {
				t.Errorf("panel datasource = %+v, want the $datasource variable", p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Fatal("no targets")
			}
			for _, target := range p.Targets {
				q, ok := target.(prometheus.Dataquery)
				if !ok {
					t.Fatalf("target is a %T, want a Prometheus query", target)
				}
				if q.Datasource == nil || *q.Datasource.Uid != "${datasource}" {
					t.Errorf("target %s datasource = %+v, want the $datasource variable", *q.RefId, q.Datasource)
				}
				for _, m := range variable.FindAllStringSubmatch(q.Expr, -1) {
					if name := m[1]; name != "__rate_interval" && !slices.Contains(Variables, name) {
						t.Errorf("target %s uses $%s, not a variable of the dashboard: %s", *q.RefId, name, q.Expr)
					}
				}
			}
		})
	}
	var names []string
	for _, v := range d.Templating.List {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, Variables) {
		t.Errorf("template variables = %v, want %v", names, Variables)
	}
}
