package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// perfSummary is the parsed summary perf prints on stdout.
type perfSummary struct {
	records, failed, bytes int64
	elapsed                time.Duration
	recordsPerSecond       float64
	latencyLabel           string
	latencies              map[string]float64 // min, mean, p50, p90, p99, p99.9, max in ms
}

var (
	summaryRecords    = regexp.MustCompile(`(?m)^records +(\d+) \((\d+) failed\)$`)
	summaryBytes      = regexp.MustCompile(`(?m)^bytes +(\d+)$`)
	summaryElapsed    = regexp.MustCompile(`(?m)^elapsed +(\S+)$`)
	summaryThroughput = regexp.MustCompile(`(?m)^throughput +([\d.]+) records/s, ([\d.]+) MiB/s$`)
	summaryLatency    = regexp.MustCompile(`(?m)^(ack latency|e2e latency) +(min .*) \(ms\)$`)
)

// parsePerfSummary reads perf's summary, failing the test on any line
// missing or malformed.
func parsePerfSummary(t *testing.T, out string) perfSummary {
	t.Helper()
	var s perfSummary
	m := summaryRecords.FindStringSubmatch(out)
	b := summaryBytes.FindStringSubmatch(out)
	e := summaryElapsed.FindStringSubmatch(out)
	tp := summaryThroughput.FindStringSubmatch(out)
	l := summaryLatency.FindStringSubmatch(out)
	if m == nil || b == nil || e == nil || tp == nil || l == nil {
		t.Fatalf("summary lacks a line (records %v, bytes %v, elapsed %v, throughput %v, latency %v):\n%s", m, b, e, tp, l, out)
	}
	s.records, _ = strconv.ParseInt(m[1], 10, 64)
	s.failed, _ = strconv.ParseInt(m[2], 10, 64)
	s.bytes, _ = strconv.ParseInt(b[1], 10, 64)
	var err error
	if s.elapsed, err = time.ParseDuration(e[1]); err != nil {
		t.Fatalf("elapsed %q: %v", e[1], err)
	}
	s.recordsPerSecond, _ = strconv.ParseFloat(tp[1], 64)
	s.latencyLabel = l[1]
	s.latencies = map[string]float64{}
	fields := strings.Fields(l[2])
	for i := 0; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i+1], 64)
		if err != nil {
			t.Fatalf("latency %s = %q: %v", fields[i], fields[i+1], err)
		}
		s.latencies[fields[i]] = v
	}
	var previous float64
	for _, name := range []string{"min", "p50", "p90", "p99", "p99.9", "max"} {
		v, ok := s.latencies[name]
		if !ok {
			t.Fatalf("latency line has no %s: %q", name, l[0])
		}
		if v < previous {
			t.Errorf("latency %s = %v is below the one before it (%v): %q", name, v, previous, l[0])
		}
		previous = v
	}
	if _, ok := s.latencies["mean"]; !ok {
		t.Fatalf("latency line has no mean: %q", l[0])
	}
	return s
}

func TestPerfProduceAndConsume(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "bench", "-p", "2", "-b", addr)

	produce := mustRun(t, "", "perf", "produce", "bench", "-b", addr, "-n", "300", "-s", "100")
	s := parsePerfSummary(t, produce.stdout)
	if s.records != 300 || s.failed != 0 || s.bytes != 30_000 || s.latencyLabel != "ack latency" || s.recordsPerSecond <= 0 {
		t.Errorf("perf produce summary %+v, want 300 records of 30000 bytes, none failed, a positive rate", s)
	}
	// The progress bar is on stderr and ends full.
	if !strings.Contains(produce.stderr, "[==============================] 100%  300/300 rec") || !strings.HasSuffix(produce.stderr, "\n") {
		t.Errorf("perf produce progress bar:\n%q", produce.stderr)
	}

	// Up to the end offsets at the start.
	consume := mustRun(t, "", "perf", "consume", "bench", "-b", addr, "--no-progress")
	s = parsePerfSummary(t, consume.stdout)
	if s.records != 300 || s.bytes != 30_000 || s.latencyLabel != "e2e latency" {
		t.Errorf("perf consume summary %+v, want the 300 records of 30000 bytes", s)
	}
	if consume.stderr != "" {
		t.Errorf("perf consume --no-progress wrote to stderr:\n%s", consume.stderr)
	}
	// A count, from an offset.
	consume = mustRun(t, "", "perf", "consume", "bench", "-b", addr, "-n", "50", "-o", "100")
	if s = parsePerfSummary(t, consume.stdout); s.records != 50 {
		t.Errorf("perf consume -n 50 summary %+v, want 50 records", s)
	}
	if !strings.Contains(consume.stderr, "100%  50/50 rec") {
		t.Errorf("perf consume progress bar:\n%q", consume.stderr)
	}
}

func TestPerfProduceOptions(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "paced", "-p", "2", "-b", addr)
	// 20 records at 400/s take at least 19/400 s.
	inv := mustRun(t, "", "perf", "produce", "paced", "-b", addr, "-n", "20", "-s", "0", "--rate", "400",
		"-z", "zstd", "--acks", "1", "-p", "1", "--no-progress")
	s := parsePerfSummary(t, inv.stdout)
	if s.records != 20 || s.bytes != 0 {
		t.Errorf("summary %+v, want 20 empty records", s)
	}
	if s.elapsed < 45*time.Millisecond {
		t.Errorf("20 records at --rate 400 took %s, want at least 47.5ms", s.elapsed)
	}
	describe := mustRun(t, "", "topic", "describe", "paced", "-b", addr)
	if !regexp.MustCompile(`(?m)^0 +1 +\d+ +\[1\] +\[1\] +\[\] +\[\] +\[\] +0 +0$`).MatchString(describe.stdout) ||
		!regexp.MustCompile(`(?m)^1 +1 +\d+ +\[1\] +\[1\] +\[\] +\[\] +\[\] +0 +20$`).MatchString(describe.stdout) {
		t.Errorf("-p 1 should put all 20 records in partition 1:\n%s", describe.stdout)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "want --count > 0"},
		{[]string{"-s", "-1"}, "--record-size ≥ 0"},
		{[]string{"--rate", "-5"}, "--rate ≥ 0"},
		{[]string{"-z", "rot13"}, "--compression"},
	} {
		mustFail(t, "", append([]string{"perf", "produce", "paced", "-b", addr}, tt.args...), tt.want)
	}
	mustFail(t, "", []string{"perf", "consume", "paced", "-b", addr, "-n", "-1"}, "--count -1: want 0 or more")
	mustFail(t, "", []string{"perf", "consume", "missing", "-b", addr}, "UNKNOWN_TOPIC_OR_PARTITION")
}
