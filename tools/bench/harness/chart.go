package harness

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of a bar by its check's status.
var statusColor = map[string]color.Color{
	statusPass:    color.RGBA{R: 0x4c, G: 0xaf, B: 0x50, A: 0xff},
	statusFail:    color.RGBA{R: 0xe5, G: 0x39, B: 0x35, A: 0xff},
	statusInfo:    color.RGBA{R: 0x90, G: 0xa4, B: 0xae, A: 0xff},
	statusInvalid: color.RGBA{R: 0xff, G: 0x98, B: 0x00, A: 0xff},
}

// chartTop is the highest ratio the chart's axis shows.
const chartTop = 2.0

// Chart draws every ratio check as a bar (its median, coloured by
// verdict), its spread over the rounds as a black line, and its target as
// a red line across the bar, and saves the picture as a PNG.
func (r *Report) Chart(file string) error {
	p := plot.New()
	p.Title.Text = "rzpgate: each ratio (median of interleaved rounds) against its target"
	if r.Quick {
		p.Title.Text += " (quick mode: meaningless)"
	}
	p.Y.Label.Text = "ratio"
	p.Y.Min = 0
	var names []string
	var spreadLine, goalLine *plotter.Line
	var labels plotter.XYLabels
	for _, sc := range r.Scenarios {
		for _, c := range sc.Checks {
			if c.Unit != "x" || c.Status == statusSkipped {
				continue
			}
			x := float64(len(names))
			names = append(names, sc.Name+": "+c.Name)
			bar, err := plotter.NewBarChart(plotter.Values{math.Min(c.Value, chartTop)}, vg.Points(14))
			if err != nil {
				return err
			}
			bar.XMin = x
			bar.Color = statusColor[c.Status]
			bar.LineStyle.Width = 0
			p.Add(bar)
			if c.Min != c.Max {
				l, err := segment(x, math.Min(c.Min, chartTop), x, math.Min(c.Max, chartTop), color.Black, 1)
				if err != nil {
					return err
				}
				p.Add(l)
				spreadLine = l
			}
			if c.Op != "" {
				l, err := segment(x-0.35, c.Goal, x+0.35, c.Goal, statusColor[statusFail], 2)
				if err != nil {
					return err
				}
				p.Add(l)
				goalLine = l
			}
			p.Y.Max = math.Max(p.Y.Max, math.Max(c.Max, c.Goal)*1.1)
			labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: math.Min(c.Value, chartTop)})
			labels.Labels = append(labels.Labels, fmt.Sprintf("%.2f", c.Value))
		}
	}
	// A bar far above its target (a fill rate that rose) would flatten
	// every other: bars stop at chartTop and the labels give the values.
	// The headroom above the bars is the legend's.
	p.Y.Max = 1.3 * math.Min(p.Y.Max, chartTop)
	if len(labels.XYs) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].YAlign = draw.YBottom
		}
		p.Add(l)
	}
	if len(names) == 0 {
		p.Title.Text += ": nothing to draw"
		names = []string{"none"}
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	if goalLine != nil {
		p.Legend.Add("target", goalLine)
	}
	if spreadLine != nil {
		p.Legend.Add("spread over rounds", spreadLine)
	}
	for _, s := range []string{statusPass, statusFail, statusInfo, statusInvalid} {
		sw, _ := plotter.NewBarChart(plotter.Values{0}, 1)
		sw.Color, sw.LineStyle.Width = statusColor[s], 0
		p.Legend.Add(s, sw)
	}
	p.Legend.Top = true
	width := vg.Length(math.Max(8, 0.55*float64(len(names)))) * vg.Inch
	if err := p.Save(width, 6*vg.Inch, file); err != nil {
		return fmt.Errorf("saving %s: %w", file, err)
	}
	return nil
}

// segment is a straight line from (x0, y0) to (x1, y1).
func segment(x0, y0, x1, y1 float64, c color.Color, width float64) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y1}})
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(width)
	return l, nil
}
