package metrics

import (
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Sum adds up the counters, gauges and untyped values of family name whose
// labels match every "label=value" given (a scraped or gathered page, e.g.
// from expfmt or Registry().Gather). It reads pages for tests and tools.
func Sum(fams []*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				if have[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return sum
}
