package sim

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

var speedFlag = flag.Bool("sim.speed", false, "measure simulated time per real second (TestSpeed)")

// TestSpeed measures how much faster than real time a cluster under a
// steady workload and no faults is simulated, as nodes and partitions
// grow. It runs only with -sim.speed:
//
//	go test ./sim -run TestSpeed -sim.speed -v
func TestSpeed(t *testing.T) {
	if !*speedFlag {
		t.Skip("measures speed; run with -sim.speed")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%6s %11s %12s %14s %10s %12s %14s\n", "nodes", "partitions", "sends/s sim", "ack latency", "events", "real", "sim/real")
	for _, c := range []struct{ nodes, partitions int }{
		{3, 1}, {3, 4}, {3, 16}, {3, 64}, {5, 4}, {5, 16}, {7, 16}, {9, 16},
	} {
		p := QuietProfile()
		p.Producers, p.ProduceEveryMs, p.Consumers, p.Topics, p.Partitions = 4, 10, 1, 1, c.partitions
		start := time.Now()
		w := playWorld(Options{Seed: 1, Nodes: c.nodes, DurationMs: 120_000, Profile: &p})
		rep := w.report()
		real := time.Since(start)
		var latencyMs, acked int64
		for _, op := range w.hist.sends {
			if op.outcome == outcomeOK {
				latencyMs += op.doneMs - op.invokeMs
				acked++
			}
		}
		if rep.Failed() {
			t.Errorf("%d nodes, %d partitions: %v", c.nodes, c.partitions, rep.Violations[0])
		}
		fmt.Fprintf(&b, "%6d %11d %12.0f %11.1f ms %10d %12s %13.0f×\n", c.nodes, c.partitions, float64(rep.Stats.SendsOK)/float64(rep.SimulatedMs)*1000,
			float64(latencyMs)/float64(max(acked, 1)), rep.Events, real.Round(time.Millisecond), float64(rep.SimulatedMs)/float64(real.Milliseconds()))
	}
	t.Logf("steady workload (4 producers, acks=all, a send every 10 ms each when idle; 1 consumer; 120 s):\n%s", b.String())
}

// playWorld plays a run as Run does, and returns its world.
func playWorld(opts Options) *World {
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	return w
}
