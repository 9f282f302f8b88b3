package bench

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// watchPeakRSS polls the process's VmHWM (peak resident set) every 5ms
// until it exits and returns a function giving the largest value seen, in
// bytes. wait4's ru_maxrss cannot be used: Go starts children with
// CLONE_VM, so before exec the child shares this process's memory, and
// Linux keeps that high-water mark in the child's maxrss across exec.
func watchPeakRSS(p *procs.Process) func() int64 {
	var peak atomic.Int64
	path := fmt.Sprintf("/proc/%d/status", p.Pid())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				for line := range strings.SplitSeq(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
						if kb*1024 > peak.Load() {
							peak.Store(kb * 1024)
						}
					}
				}
			}
			select {
			case <-p.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { <-done; return peak.Load() }
}

var serversRE = regexp.MustCompile(`"worker started".*?concurrency=(\d+) servers=(\d+)`)

// workerSizing reads concurrency and servers from a worker's start log line.
func workerSizing(logs string) (conc, servers int) {
	m := serversRE.FindStringSubmatch(logs)
	if m == nil {
		return 0, 0
	}
	conc, _ = strconv.Atoi(m[1])
	servers, _ = strconv.Atoi(m[2])
	return conc, servers
}
