package benchmarks

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// GREGOR_BENCH_PERF=PREFIX records every measured window with Linux perf
// (`perf record -g`) over the broker processes and the benchmark process
// itself, into PREFIX.N.data (N counts the windows of the run): a profile
// of what the whole cell costs the machine, kernel included, without the
// set-up, topic changes and quiescence around the windows. Off (no perf
// started) unless set; perf must be installed and allowed to attach.
// GREGOR_BENCH_PERF_EVENTS=EVENTS records those events instead of samples
// (`perf record -e EVENTS`, e.g. raw_syscalls:sys_enter to count system
// calls per record with perf script).
var perfWindows struct {
	mu sync.Mutex
	n  int
}

// startPerf starts perf over t's processes and this one when
// GREGOR_BENCH_PERF asks for it, and returns what stops it (a no-op
// otherwise).
func startPerf(b *testing.B, t *target) func() {
	perfWindows.mu.Lock()
	perfWindows.n++
	n := perfWindows.n
	perfWindows.mu.Unlock()
	stopPprof := startPprof(n)
	prefix := os.Getenv("GREGOR_BENCH_PERF")
	if prefix == "" {
		return stopPprof
	}
	var pids []string
	for _, pid := range append(t.processes(), os.Getpid()) {
		pids = append(pids, strconv.Itoa(pid))
	}
	out := fmt.Sprintf("%s.%d.data", prefix, n)
	args := []string{"record", "-q", "-g", "-F", "999"}
	if events := os.Getenv("GREGOR_BENCH_PERF_EVENTS"); events != "" {
		args = []string{"record", "-q", "-e", events}
	}
	cmd := exec.Command("perf", append(args, "-o", out, "-p", strings.Join(pids, ","))...)
	if err := cmd.Start(); err != nil {
		b.Fatalf("GREGOR_BENCH_PERF: %v", err)
	}
	// perf attaches after it started; give it a moment (outside any
	// timer: the caller starts its window after this returns).
	time.Sleep(300 * time.Millisecond)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		stopPprof()
	}
}

// GREGOR_BENCH_PPROF="PREFIX SECONDS ADDR..." takes a Go CPU profile of
// SECONDS from each ADDR (a node's debug.listener) at the start of every
// measured window, into PREFIX.N.I.pprof (I the address's index), and
// the allocations of those seconds into PREFIX.N.I.allocs.pprof: the
// brokers' own code by function, which perf cannot name in Go binaries.
// The profile runs its whole length: pick one shorter than the window.
func startPprof(n int) func() {
	f := strings.Fields(os.Getenv("GREGOR_BENCH_PPROF"))
	if len(f) < 3 {
		return func() {}
	}
	var wg sync.WaitGroup
	for i, addr := range f[2:] {
		// The CPU profile, and beside it the allocations of the same
		// seconds (a delta profile) into PREFIX.N.I.allocs.pprof.
		for _, kind := range []struct{ path, suffix string }{{"profile", "pprof"}, {"allocs", "allocs.pprof"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get("http://" + addr + "/debug/pprof/" + kind.path + "?seconds=" + f[1])
				if err != nil {
					return
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				if err == nil && resp.StatusCode == http.StatusOK {
					_ = os.WriteFile(fmt.Sprintf("%s.%d.%d.%s", f[0], n, i, kind.suffix), raw, 0o644)
				}
			}()
		}
	}
	return wg.Wait
}

// minorFaults is the minor page faults pid has taken so far (field 10 of
// /proc/<pid>/stat; its threads' included): on a virtual machine whose host
// backs memory on first touch, each one costs microseconds. 0 where /proc
// has none.
func minorFaults(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // field 3 (state) is f[0]
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64)
	return n
}

// faults sums minorFaults over pids.
func faults(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		total += minorFaults(pid)
	}
	return total
}

// servedRequests sums, over the cluster's nodes, the requests each
// answered so far by API (gregor_request_duration_seconds' counts), read
// from their metrics listeners; nil when none answers. Its scrape costs the
// nodes CPU: call it outside measured windows.
func servedRequests() map[string]float64 {
	const prefix = `gregor_request_duration_seconds_count{api="`
	var total map[string]float64
	for _, addr := range clusterMetrics {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			rest, ok := strings.CutPrefix(line, prefix)
			if !ok {
				continue
			}
			api, value, ok := strings.Cut(rest, `"} `)
			if !ok {
				continue
			}
			n, err := strconv.ParseFloat(value, 64)
			if err != nil {
				continue
			}
			if total == nil {
				total = map[string]float64{}
			}
			total[api] += n
		}
	}
	return total
}
