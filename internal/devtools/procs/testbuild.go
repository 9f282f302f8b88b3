package procs

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
)

// testBuilds caches BuildForTest's directories for the life of the test
// binary, keyed by the command list: tests that each start the same
// binaries pay for one build.
var testBuilds struct {
	sync.Mutex
	dirs map[string]string
}

// BuildForTest compiles commands (as Build; "..." means every command under
// cmd/) once per test binary and returns the directory holding them. A build
// failure fails tb with the compiler's output.
func BuildForTest(tb testing.TB, commands ...string) string {
	tb.Helper()
	key := strings.Join(commands, ",")
	testBuilds.Lock()
	defer testBuilds.Unlock()
	if dir, ok := testBuilds.dirs[key]; ok {
		return dir
	}
	// Not tb.TempDir: later tests reuse the directory after tb ends.
	dir, err := os.MkdirTemp("", "sinch-dispatch-bin")
	if err != nil {
		tb.Fatal(err)
	}
	if err := Build(context.Background(), dir, commands...); err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	if testBuilds.dirs == nil {
		testBuilds.dirs = map[string]string{}
	}
	testBuilds.dirs[key] = dir
	return dir
}
