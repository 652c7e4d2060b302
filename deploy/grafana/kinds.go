package grafana

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Panel sizes on Grafana's 24-column grid: three panels to a line.
const (
	panelWidth  = 8
	panelHeight = 8
)

// query is one PromQL target of a panel and its legend.
type query struct {
	expr   string
	legend string
}

// sel returns the selector of metric filtered by the dashboard's job and
// instance variables and by more matchers, such as `route=~"$route"`.
func sel(metric string, matchers ...string) string {
	all := append([]string{`job=~"$job"`, `instance=~"$instance"`}, matchers...)
	return metric + "{" + strings.Join(all, ",") + "}"
}

// rate returns the per-second rate of a counter selector over Grafana's
// $__rate_interval (at least four scrape intervals).
func rate(selector string) string {
	return "rate(" + selector + "[$__rate_interval])"
}

// gateway limits a runtime or process series (which have no rzpgate_
// prefix) to the targets that are rzpgate gateways.
func gateway(expr string) string {
	return expr + " and on (job, instance) rzpgate_build_info"
}

// state is one value of a state panel: its text and color.
type state struct {
	value, text, color string
}

// panels builds the dashboard's panels. Their ids are given once the
// dashboard is built, in grid order.
type panels struct{}

// targets returns the Prometheus targets of qs, with refIds A, B, ...
func targets(qs []query, instant bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		t := prometheus.NewDataqueryBuilder().
			Expr(q.expr).
			LegendFormat(q.legend).
			RefId(string(rune('A' + i))).
			Datasource(datasource)
		if instant {
			t = t.Instant().Format(prometheus.PromQueryFormatTable)
		} else {
			t = t.Range()
		}
		out[i] = t
	}
	return out
}

// timeseries returns a line graph of qs in unit (a Grafana unit id such
// as reqps, s, percentunit or bytes), starting at zero.
func (p *panels) timeseries(title, description, unit string, qs ...query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Height(panelHeight).
		Span(panelWidth).
		Unit(unit).
		Min(0).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending)).
		Targets(targets(qs, false))
}

// states returns a state timeline of qs whose values are the given states.
func (p *panels) states(title, description string, states []state, qs ...query) *statetimeline.PanelBuilder {
	options := make(map[string]dashboard.ValueMappingResult, len(states))
	for i, s := range states {
		options[s.value] = dashboard.ValueMappingResult{Text: cog.ToPtr(s.text), Color: cog.ToPtr(s.color), Index: cog.ToPtr(int32(i))}
	}
	return statetimeline.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Height(panelHeight).
		Span(panelWidth).
		Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: options}}}).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderNone)).
		Targets(targets(qs, false))
}

// table returns a table of qs evaluated at the end of the time range.
func (p *panels) table(title, description string, qs ...query) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Height(panelHeight).
		Span(panelWidth).
		Targets(targets(qs, true))
}
