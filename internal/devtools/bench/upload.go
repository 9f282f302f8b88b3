package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueue"
)

// benchUpload (figure 7): a CSV of MemoryRows rows uploaded to the
// dashboard's POST /api/campaigns, streamed from disk as a client would
// send it: the dashboard's peak RSS (it must not hold the file) and the
// upload's time against the enqueue binary on the same file (baseline).
func benchUpload(ctx context.Context, h *harness) ([]Figure, error) {
	n := h.sizes.MemoryRows
	path := filepath.Join(h.tmp, "upload.csv")
	if err := writeCSVFile(path, n); err != nil {
		return nil, err
	}
	base, err := h.runEnqueue(ctx, "upload-enqueue", path, n)
	if err != nil {
		return nil, err
	}

	if err := fresh(ctx, h.redis); err != nil {
		return nil, err
	}
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	const token = "bench-upload-token"
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := procs.Start(filepath.Join(h.binDir, "dashboard"),
		[]string{"REDIS_URL=" + h.redis.URL(), "DASHBOARD_TOKEN=" + token}, "--addr", addr, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	defer p.Stop(10 * time.Second)
	peak := watchPeakRSS(p)
	url := "http://" + addr + "/api/campaigns"
	if err := waitListening(ctx, url, p); err != nil {
		return nil, err
	}

	start := time.Now()
	sum, err := uploadFile(ctx, url, token, path)
	wall := time.Since(start)
	if err != nil {
		return nil, err
	}
	if sum.Enqueued != int64(n) {
		return nil, fmt.Errorf("upload: got %+v, want %d enqueued", sum, n)
	}
	p.Stop(10 * time.Second)
	rss := peak()

	const mb = 1 << 20
	ratio := wall.Seconds() / base.wall.Seconds()
	return []Figure{
		{
			Name: fmt.Sprintf("7 upload time, %d rows", n), Value: wall.Seconds(), Unit: "s",
			Baseline: fmt.Sprintf("enqueue binary on the same file %.1f s", base.wall.Seconds()),
			Ratio:    ratio, Target: "ratio ≤ 1.3", Pass: ratio <= 1.3,
			Note: fmt.Sprintf("POST /api/campaigns, multipart streamed from disk over loopback: %.0f rows/s; enqueue %.0f rows/s",
				float64(n)/wall.Seconds(), float64(n)/base.wall.Seconds()),
		},
		{
			Name: fmt.Sprintf("7 dashboard peak RSS, %d-row upload", n), Value: float64(rss) / mb, Unit: "MB",
			Baseline: fmt.Sprintf("enqueue binary %.1f MB", float64(base.rss)/mb),
			Ratio:    float64(rss) / float64(base.rss), Target: "≤ 150 MB", Pass: float64(rss)/mb <= 150,
			Note: "the dashboard process's VmHWM, polled every 5 ms",
		},
	}, nil
}

// waitListening polls url until the server answers, or p exits.
func waitListening(ctx context.Context, url string, p *procs.Process) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("dashboard exited: %v\n%s", p.Err(), procs.LastLines(p.Output(), 10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("dashboard did not listen within 30s\n%s", procs.LastLines(p.Output(), 10))
}

// uploadFile POSTs path as the csv part of a create request, streaming it.
func uploadFile(ctx context.Context, url, token, path string) (enqueue.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return enqueue.Summary{}, err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("spec", fmt.Sprintf(`{"campaign":"upload","text":%q}`, messageText))
		if err == nil {
			var fw io.Writer
			if fw, err = mw.CreateFormFile("csv", "upload.csv"); err == nil {
				if _, err = io.Copy(fw, f); err == nil {
					err = mw.Close()
				}
			}
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		return enqueue.Summary{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return enqueue.Summary{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return enqueue.Summary{}, fmt.Errorf("upload: %d %s", resp.StatusCode, body)
	}
	var sum enqueue.Summary
	return sum, json.Unmarshal(body, &sum)
}
