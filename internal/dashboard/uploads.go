package dashboard

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultUploadTTL is how long the campaign builder keeps an upload that
// was not launched.
const DefaultUploadTTL = time.Hour

// errUploadGone: the upload ID is unknown, expired, launched, or another
// user's.
var errUploadGone = errors.New("this upload is gone (launched, older than --upload-ttl, or never made): upload the file again")

// uploads keeps the campaign builder's files on disk, one per upload ID:
// ID.csv (the file as it came) and ID.json (its settings). A file is
// never held in memory; the sweeper deletes what is older than the TTL.
type uploads struct {
	dir    string
	ttl    time.Duration
	logger *slog.Logger
	stop   chan struct{}
	done   chan struct{}
}

// uploadMeta is what the upload form gave with the file.
type uploadMeta struct {
	Owner         string    `json:"owner"` // principal name: only they see it
	Name          string    `json:"name"`
	Size          int64     `json:"size"`
	Delimiter     string    `json:"delimiter,omitempty"`
	DefaultRegion string    `json:"default_region,omitempty"`
	Encoding      string    `json:"encoding,omitempty"`
	Created       time.Time `json:"created"`
}

// uploadIDs are rand.Text's: 26 characters of base32.
var uploadID = regexp.MustCompile(`^[A-Z2-7]{26}$`)

func newUploads(dir string, ttl time.Duration, logger *slog.Logger) *uploads {
	u := &uploads{dir: dir, ttl: ttl, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	go u.sweeper()
	return u
}

func (u *uploads) close() {
	close(u.stop)
	<-u.done
}

func (u *uploads) path(id, ext string) string { return filepath.Join(u.dir, id+ext) }

// save streams src to a new upload's file and writes its settings.
func (u *uploads) save(src io.Reader, meta uploadMeta) (string, error) {
	id := rand.Text()
	tmp := u.path(id, ".part")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	n, err := io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	meta.Size, meta.Created = n, time.Now().UTC()
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(u.path(id, ".json"), b, 0o600); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("upload: %w", err)
	}
	if err := os.Rename(tmp, u.path(id, ".csv")); err != nil {
		u.remove(id)
		return "", fmt.Errorf("upload: %w", err)
	}
	return id, nil
}

// meta reads an upload's settings; errUploadGone unless owner made it.
func (u *uploads) meta(id, owner string) (uploadMeta, error) {
	var m uploadMeta
	if !uploadID.MatchString(id) {
		return m, errUploadGone
	}
	b, err := os.ReadFile(u.path(id, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		return m, errUploadGone
	}
	if err != nil {
		return m, fmt.Errorf("upload: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("upload %s: %w", id, err)
	}
	if m.Owner != owner || time.Since(m.Created) > u.ttl {
		return m, errUploadGone
	}
	return m, nil
}

// open opens an upload's file (checked with meta first).
func (u *uploads) open(id string) (*os.File, error) {
	f, err := os.Open(u.path(id, ".csv"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errUploadGone
	}
	return f, err
}

func (u *uploads) remove(id string) {
	for _, ext := range []string{".csv", ".json", ".part"} {
		if err := os.Remove(u.path(id, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			u.logger.Error("upload not deleted", "upload", id, "err", err)
		}
	}
}

// sweep deletes the uploads (and unfinished ones) last written before
// now minus the TTL.
func (u *uploads) sweep(now time.Time) {
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		u.logger.Error("upload sweep", "err", err)
		return
	}
	for _, e := range entries {
		id, _, _ := strings.Cut(e.Name(), ".")
		info, err := e.Info()
		if err != nil || !uploadID.MatchString(id) || now.Sub(info.ModTime()) <= u.ttl {
			continue
		}
		u.remove(id)
	}
}

func (u *uploads) sweeper() {
	defer close(u.done)
	t := time.NewTicker(max(u.ttl/10, time.Second))
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case now := <-t.C:
			u.sweep(now)
		}
	}
}
