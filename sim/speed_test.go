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
	fmt.Fprintf(&b, "%5s %6s %11s %12s %14s %10s %12s %10s %14s\n", "acks", "nodes", "partitions", "sends/s sim", "ack latency", "events", "real", "events/s", "sim/real")
	for _, c := range []struct {
		acksAll           bool
		nodes, partitions int
	}{
		{true, 3, 1}, {true, 3, 4}, {true, 3, 16}, {true, 5, 4}, {true, 5, 16},
		{false, 3, 1}, {false, 3, 4}, {false, 3, 16}, {false, 3, 64}, {false, 5, 16}, {false, 7, 16}, {false, 9, 16},
	} {
		p := QuietProfile()
		p.Producers, p.ProduceEveryMs, p.Consumers, p.Topics, p.Partitions = 4, 10, 1, 1, c.partitions
		acks := "all"
		if !c.acksAll {
			p.AcksAllShare, acks = 0, "1"
		}
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
		fmt.Fprintf(&b, "%5s %6d %11d %12.0f %11.1f ms %10d %12s %10.0f %13.0f×\n", acks, c.nodes, c.partitions, float64(rep.Stats.SendsOK)/float64(rep.SimulatedMs)*1000,
			float64(latencyMs)/float64(max(acked, 1)), rep.Events, real.Round(time.Millisecond), float64(rep.Events)/real.Seconds(),
			float64(rep.SimulatedMs)/float64(real.Milliseconds()))
	}
	t.Logf("steady workload (4 producers, each sending one value at a time, every 10 ms when idle; 1 consumer; 120 s, no faults):\n%s", b.String())
}

// playWorld plays a run as Run does, and returns its world.
func playWorld(opts Options) *World {
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	return w
}
