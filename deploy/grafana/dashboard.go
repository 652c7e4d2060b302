// Package grafana builds rzpgate's Grafana dashboard, committed as rzpgate.json.
package grafana

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

//go:generate go run ./gen -o rzpgate.json

// UID is the dashboard's stable uid: links and provisioning refer to it.
const UID = "rzpgate"

// File is the name of the committed JSON, in this package's directory.
const File = "rzpgate.json"

// Variables are the dashboard's template variables, by name: datasource
// selects the Prometheus data source; job, instance, route and tenant
// filter the queries and are multi-valued with an All of ".*".
var Variables = []string{"datasource", "job", "instance", "route", "tenant"}

// Dashboard returns the dashboard: template variables, then one row per
// concern, each panel querying Prometheus through $datasource.
func Dashboard() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder("rzpgate").
		Uid(UID).
		Description("rzpgate, the caching gateway for the Razorpay API: traffic, cache, latency, Razorpay, breakers, limits, Redis, webhooks. Generated from deploy/grafana; edit the Go code, not the JSON.").
		Tags([]string{"rzpgate", "razorpay"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(labelVariable("job", "Job", "label_values(rzpgate_build_info, job)")).
		WithVariable(labelVariable("instance", "Instance", `label_values(rzpgate_build_info{job=~"$job"}, instance)`)).
		WithVariable(labelVariable("route", "Route", `label_values(rzpgate_requests_total{job=~"$job"}, route)`)).
		WithVariable(labelVariable("tenant", "Tenant", `label_values(rzpgate_rate_limited_requests_total{job=~"$job"}, tenant)`))

	p := &panels{}
	for _, r := range p.rows() {
		b = b.WithRow(dashboard.NewRowBuilder(r.title))
		for _, panel := range r.panels {
			b = b.WithPanel(panel)
		}
	}
	d, err := b.Build()
	if err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("building dashboard: %w", err)
	}
	// Ids follow the grid, rows included, so that adding a panel renumbers
	// only those after it.
	for i, pr := range d.Panels {
		id := uint32(i + 1)
		if pr.RowPanel != nil {
			pr.RowPanel.Id = id
		} else {
			pr.Panel.Id = &id
		}
	}
	return d, nil
}

// JSON returns the dashboard as the committed file holds it: indented,
// with a final newline.
func JSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding dashboard: %w", err)
	}
	return append(out, '\n'), nil
}

// labelVariable returns a multi-valued variable listing the values of a
// label, with All meaning any value (".*", so that series without the
// label's current values, such as a tenant never limited, still match).
func labelVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(datasource).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

// datasource is the reference every query and variable uses: the data
// source chosen in $datasource.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
