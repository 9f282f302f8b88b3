package jobs

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"
)

var _ asynq.Logger = AsynqLogger{}

func TestAsynqLoggerKeepsLevelAndComponent(t *testing.T) {
	var buf bytes.Buffer
	a := NewAsynqLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "asynq-scheduler")
	for _, tc := range []struct {
		log   func(...any)
		level string
	}{
		{a.Debug, "DEBUG"},
		{a.Info, "INFO"},
		{a.Warn, "WARN"},
		{a.Error, "ERROR"},
		{a.Fatal, "ERROR"},
	} {
		buf.Reset()
		tc.log("queue ", 3, " is busy")
		var line struct{ Level, Msg, Component string }
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v in %q", tc.level, err, buf.String())
		}
		want := struct{ Level, Msg, Component string }{tc.level, "queue 3 is busy", "asynq-scheduler"}
		if line != want {
			t.Errorf("got %+v, want %+v", line, want)
		}
	}
}
