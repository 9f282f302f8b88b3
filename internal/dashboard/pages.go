package dashboard

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// pages holds the parsed templates: each page with the shared layout.
type pages struct{ byName map[string]*template.Template }

func newPages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"list.html", "campaign.html", "error.html", "new.html", "review.html"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// render executes into a buffer first, so a template error becomes a 500
// and not half a page.
func (p *pages) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.byName[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorView struct {
	Status  int
	Message string
	Refresh int
}

// row is one campaign in the list.
type row struct {
	campaign.Summary
	Done      int64 // sent + failed + cancelled
	Delivered int64 // delivered or read
	Percent   string
	Created   string
}

type listView struct {
	Refresh   int
	Campaigns []row
	CanCreate bool // the viewer's role may use the campaign builder
}

func rowsOf(sums []campaign.Summary) []row {
	rows := make([]row, len(sums))
	for i, m := range sums {
		rows[i] = row{Summary: m, Done: m.Sent + m.Failed + m.Cancelled, Delivered: m.Outcomes.Delivered + m.Outcomes.Read,
			Created: m.CreatedAt.UTC().Format("2006-01-02 15:04")}
		rows[i].Percent = percent(rows[i].Done, m.Total)
	}
	return rows
}

func percent(n, total int64) string {
	if total == 0 {
		return "0"
	}
	return strconv.FormatFloat(math.Floor(float64(n)*1000/float64(total))/10, 'f', -1, 64)
}

// count is one labelled number.
type count struct {
	Label string
	N     int64
}

type campaignView struct {
	row
	Refresh  int
	Finished bool
	CSRF     string
	Note     string
	Refused  bool // Note says an action was refused
	Rate     string
	ETA      string
	// AppRateText and AppETAText: the app's outbound rate and the ETA at
	// it (when AppRate is known); WaitingText what waiting sends wait for.
	AppRateText, AppETAText string
	WaitingText             string
	Outcomes                []count
	Reasons                 []count // delivery failures by reason
	// DeliveredOn counts recipients by the channel that reached them;
	// Switches the SWITCHING_CHANNEL receipts (channel fallback).
	DeliveredOn []count
	Switches    int64
	Fallback    string // the channel fallback order, "" without one
	Content     string // the content type, "marketing" ("" without one)
	// SendErrors are failed sends by error; SendErrorsSkipped when the
	// campaign is too large to group them on a page.
	SendErrors        []count
	SendErrorsSkipped bool
	Chart             chart
	Tracking          string

	// CanAct: the viewer's role may run actions (see actionRole); the
	// Can* fields say which actions the campaign's state allows.
	CanAct                                   bool
	CanPause, CanResume, CanCancel, CanRetry bool
	Audit                                    []auditRow // newest first
}

func campaignViewOf(m campaign.Summary, series []int64, start time.Time) campaignView {
	v := campaignView{row: rowsOf([]campaign.Summary{m})[0]}
	v.Finished = m.State == campaign.StateDone || m.State == campaign.StateCancelled
	v.Rate = strconv.FormatFloat(m.SendRate, 'f', 1, 64)
	v.ETA = "—"
	if m.ETASeconds != nil {
		v.ETA = (time.Duration(*m.ETASeconds) * time.Second).String()
	}
	v.AppRateText, v.AppETAText = strconv.FormatFloat(m.AppRate, 'f', -1, 64), "—"
	if m.AppETASeconds != nil {
		v.AppETAText = fmt.Sprintf("%s (%s)", time.Duration(*m.AppETASeconds*float64(time.Second)).Round(time.Second),
			m.AppETA.Format("2006-01-02 15:04:05 MST"))
	}
	v.WaitingText = m.WaitingFor()
	for _, o := range campaign.Outcomes {
		v.Outcomes = append(v.Outcomes, count{string(o), m.Outcomes.Get(o)})
	}
	v.Reasons = countsOf(m.Outcomes.FailedByReason)
	for ch, n := range m.Outcomes.DeliveredByChannel {
		v.DeliveredOn = append(v.DeliveredOn, count{string(ch), n})
	}
	slices.SortFunc(v.DeliveredOn, func(a, b count) int { return strings.Compare(a.Label, b.Label) })
	v.Switches = m.Outcomes.ChannelSwitches
	v.Fallback = sinch.JoinChannels(m.Channels, " > ")
	v.Content = campaign.ContentLabel(m.ContentType)
	switch t := m.Tracking; {
	case t.Warning != "":
		v.Tracking = "WARNING: " + t.Warning
	case t.At.IsZero():
		v.Tracking = "no tracking pass yet"
	default:
		v.Tracking = fmt.Sprintf("last pass %s (%d pages, %d messages listed)", t.At.UTC().Format("2006-01-02 15:04:05 MST"), t.Pages, t.Messages)
	}
	v.Chart = chartOf(series, start)
	v.CanPause = m.State == campaign.StateRunning || m.State == campaign.StateScheduled
	v.CanResume = m.State == campaign.StatePaused
	v.CanCancel = !v.Finished
	v.CanRetry = m.Failed > 0 && m.State != campaign.StateCancelled
	return v
}

// countsOf lists a map's counts, most frequent first.
func countsOf(m map[string]int64) []count {
	out := make([]count, 0, len(m))
	for label, n := range m {
		out = append(out, count{label, n})
	}
	slices.SortFunc(out, func(a, b count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Label, b.Label))
	})
	return out
}

// chart is the send-rate chart: bars of sends per second, drawn as inline
// SVG (no script, no network).
type chart struct {
	Empty         bool
	Width, Height int
	Bars          []bar
	Peak          string // the highest bar's rate, sends/s
	Start, End    string // the time axis' ends, UTC
	BucketSeconds int
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

// maxBars keeps the chart readable: seconds are grouped into at most this
// many bars.
const maxBars = 60

func chartOf(series []int64, start time.Time) chart {
	c := chart{Width: 600, Height: 160}
	if len(series) == 0 {
		c.Empty = true
		return c
	}
	c.BucketSeconds = (len(series) + maxBars - 1) / maxBars
	var rates []float64
	for i := 0; i < len(series); i += c.BucketSeconds {
		var sum int64
		end := min(i+c.BucketSeconds, len(series))
		for _, n := range series[i:end] {
			sum += n
		}
		rates = append(rates, float64(sum)/float64(end-i))
	}
	peak := slices.Max(rates)
	w := float64(c.Width) / float64(len(rates))
	for i, r := range rates {
		h := 0.0
		if peak > 0 {
			h = r / peak * float64(c.Height-10)
		}
		at := start.Add(time.Duration(i*c.BucketSeconds) * time.Second).UTC().Format("15:04:05")
		c.Bars = append(c.Bars, bar{X: float64(i) * w, Y: float64(c.Height) - h, W: math.Max(1, w-1), H: h,
			Title: fmt.Sprintf("%s: %.1f sends/s", at, r)})
	}
	c.Peak = strconv.FormatFloat(peak, 'f', 1, 64)
	c.Start = start.UTC().Format("15:04:05")
	c.End = start.Add(time.Duration(len(series)-1) * time.Second).UTC().Format("15:04:05 MST")
	return c
}
