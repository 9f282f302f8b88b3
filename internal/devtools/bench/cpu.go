package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// cpuSample is a reading of the CPU counters that explain a figure: the
// machine's (busy, and stolen by the hypervisor), Redis's, and this
// process's (which hosts the simulator and the in-process groups).
type cpuSample struct {
	at     time.Time
	total  uint64 // all jiffies of all CPUs
	idle   uint64 // idle + iowait
	steal  uint64
	redis  time.Duration
	self   time.Duration
	cmds   int64 // Redis total_commands_processed; -1 when unknown
	hasSys bool
}

// clockTick is USER_HZ, the unit of /proc/stat and /proc/PID/stat on Linux.
const clockTick = 10 * time.Millisecond

func (h *harness) cpuNow() cpuSample {
	s := cpuSample{at: time.Now(), self: selfCPU()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) >= 9 && f[0] == "cpu" {
			var v [8]uint64
			for i := range v {
				v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
			}
			for _, x := range v {
				s.total += x
			}
			s.idle, s.steal, s.hasSys = v[3]+v[4], v[7], true
		}
	}
	s.cmds = -1
	if h.redis != nil {
		s.redis = procCPU(h.redis.Pid())
		s.cmds = commands(h.redis)
	}
	return s
}

// cpuUse describes what happened between two samples.
type cpuUse struct {
	busy, steal float64 // fractions of the machine's CPU time
	redis, self time.Duration
	cmds        int64 // Redis commands processed; -1 when unknown
	hasSys      bool
}

func cpuSince(a, b cpuSample) cpuUse {
	u := cpuUse{redis: b.redis - a.redis, self: b.self - a.self, cmds: -1, hasSys: a.hasSys && b.hasSys}
	if a.cmds >= 0 && b.cmds >= 0 {
		u.cmds = b.cmds - a.cmds - 1 // less the INFO of the second sample
	}
	if d := float64(b.total - a.total); u.hasSys && d > 0 {
		u.busy = 1 - float64(b.idle-a.idle)/d
		u.steal = float64(b.steal-a.steal) / d
	}
	return u
}

// perItem renders the CPU cost of n items (sends, rows) and the machine's state.
func (u cpuUse) perItem(n int, item, selfLabel string) string {
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(max(n, 1)))
	}
	s := fmt.Sprintf("CPU per %s: redis %s, %s %s", item, per(u.redis), selfLabel, per(u.self))
	if u.cmds >= 0 {
		s += fmt.Sprintf("; Redis commands per %s %.2f", item, float64(u.cmds)/float64(max(n, 1)))
	}
	if u.hasSys {
		s += fmt.Sprintf("; machine %.0f%% busy, %.0f%% stolen by the hypervisor", 100*u.busy, 100*u.steal)
	}
	return s
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user + system time of a running process, from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// cpu is the user + system time of an exited process.
func processCPU(p *procs.Process) time.Duration {
	if ru, ok := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return 0
}
