package gossip

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// TestMeasureTimings measures, with the production LANTimings (or the fast
// ones with GREGOR_GOSSIP_MEASURE=fast), how long a crash takes to be
// reported failed on 3 nodes on loopback, and whether a CPU-saturating load
// makes any node report a live one failed. It takes about a minute:
// GREGOR_GOSSIP_MEASURE=1 go test -run TestMeasureTimings -v ./cluster/gossip/
func TestMeasureTimings(t *testing.T) {
	mode := os.Getenv("GREGOR_GOSSIP_MEASURE")
	if mode == "" {
		t.Skip("set GREGOR_GOSSIP_MEASURE=1 (or fast) to measure")
	}
	timings := LANTimings()
	if mode == "fast" {
		timings = fastTimings()
	}
	start := func(id int32, bind string) *testNode {
		rec := &recorder{}
		n, err := Start(Config{NodeID: id, BindAddress: bind, Timings: timings, OnEvent: rec.onEvent,
			Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Shutdown() })
		return &testNode{Node: n, rec: rec}
	}
	nodes := []*testNode{start(1, "127.0.0.1:0"), start(2, "127.0.0.1:0"), start(3, "127.0.0.1:0")}
	for _, n := range nodes[1:] {
		if _, err := n.Join(nodes[0].Address()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		waitLive(t, n, 3)
	}

	// Crash detection, at varied moments of the probe cycle.
	var worst time.Duration
	for trial := range 6 {
		time.Sleep(time.Duration(trial) * timings.ProbeInterval / 3) // vary the phase, not a wait for a condition
		crashedAddr := nodes[2].Address()
		crashed := time.Now()
		_ = nodes[2].Shutdown()
		var seen []time.Duration
		for _, n := range nodes[:2] {
			e := n.rec.wait(t, "failed", crashed, 30*time.Second, is(MemberFailed, 3))
			seen = append(seen, e.at.Sub(crashed))
		}
		worst = max(worst, seen[0], seen[1])
		t.Logf("trial %d: crash reported failed after %v and %v", trial, seen[0], seen[1])
		nodes[2] = start(3, crashedAddr)
		rejoined := time.Now()
		if _, err := nodes[2].Join(nodes[0].Address()); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			waitLive(t, n, 3)
		}
		t.Logf("trial %d: restarted node live everywhere after %v", trial, time.Since(rejoined))
	}
	t.Logf("worst crash detection: %v", worst)

	// Load: every core busy (twice over) and allocation churn for GC.
	before := time.Now()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sink [][]byte
			for i := 0; !stop.Load(); i++ {
				sink = append(sink, make([]byte, 4096))
				if len(sink) > 4096 {
					sink = sink[:0]
				}
			}
		}()
	}
	time.Sleep(20 * time.Second) // the load's duration, not a wait for a condition
	stop.Store(true)
	wg.Wait()
	falseReports := 0
	for _, n := range nodes {
		n.rec.mu.Lock()
		for _, e := range n.rec.events {
			if !e.at.Before(before) && e.Kind == MemberFailed {
				falseReports++
				t.Logf("under load node %d reported node %d failed", n.cfg.NodeID, e.Member.NodeID)
			}
		}
		n.rec.mu.Unlock()
	}
	t.Logf("20 s of %d busy goroutines on %d CPUs: %d false failure reports", 2*runtime.NumCPU(), runtime.NumCPU(), falseReports)

	left := time.Now()
	_ = nodes[1].Leave()
	t.Logf("Leave returned after %v", time.Since(left))
	e := nodes[0].rec.wait(t, "left", left, 10*time.Second, is(MemberLeft, 2))
	t.Logf("leave seen after %v", e.at.Sub(left))
}
