package bench

import "strings"

// trial is one timed measurement: a throughput and the CPU it cost.
type trial struct {
	rate float64
	cpu  cpuUse
}

// trials are the rounds of one measurement; the best is reported, since
// on a shared machine noise only ever slows a run down.
type trials []trial

func (ts trials) best() trial {
	var b trial
	for _, t := range ts {
		if t.rate > b.rate {
			b = t
		}
	}
	return b
}

func (ts trials) String() string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = num(t.rate)
	}
	return strings.Join(s, ", ")
}
