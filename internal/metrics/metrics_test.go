package metrics

import (
	"strings"
	"testing"
	"time"
)

// Whatever callers pass, label values stay in the fixed lists: a phone
// number or secret handed in by mistake becomes "other".
func TestLabelValuesAreBounded(t *testing.T) {
	m := New()
	m.ObserveSend("sent", time.Millisecond)
	m.ObserveSend("+33612345678", time.Millisecond)
	m.ObserveReceipt("s3cr3t", "+33612345678")
	m.ObserveReceipt("", ReceiptIgnored)
	m.ObserveRejected("Bearer abc")
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if v := l.GetValue(); strings.ContainsAny(v, "+ ") || strings.Contains(v, "s3cr3t") {
					t.Errorf("%s{%s=%q}", f.GetName(), l.GetName(), v)
				}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sinch_dispatch_sends_total", []string{"result=accepted"}, 1},
		{"sinch_dispatch_sends_total", []string{"result=other"}, 1},
		{"sinch_dispatch_webhook_receipts_total", []string{"status=other", "result=other"}, 1},
		{"sinch_dispatch_webhook_receipts_total", []string{"status=none", "result=ignored"}, 1},
		{"sinch_dispatch_webhook_rejected_total", []string{"reason=other"}, 1},
		{"sinch_dispatch_send_duration_seconds", nil, 0}, // a histogram is not summed
	} {
		if got := Sum(fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v: got %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
