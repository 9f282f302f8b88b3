package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCPUProfileWritesTheFileAndNamesTheVariableOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatalf("startCPUProfile: %v", err)
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("profile %s: got %v (%v), want a non-empty file", path, fi, err)
	}
	_, err = startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if err == nil || !strings.Contains(err.Error(), CPUProfileEnv) {
		t.Errorf("profile in a missing directory: got %v, want an error naming %s", err, CPUProfileEnv)
	}
}
