package sim

import (
	"fmt"
	"testing"
	"time"
)

// steadyShape is a cluster under the steady workload: nodes brokers, one
// topic of partitions partitions (RF 3, min.insync.replicas 2), four
// producers each sending one value at a time (a new one every 10 ms when
// idle) with acks=all or acks=1, one consumer, no faults.
type steadyShape struct {
	nodes, partitions int
	acksAll           bool
}

func (s steadyShape) String() string {
	acks := "1"
	if s.acksAll {
		acks = "all"
	}
	return fmt.Sprintf("nodes=%d/partitions=%d/acks=%s", s.nodes, s.partitions, acks)
}

// steadyShapes are the shapes the benchmark measures: three nodes with
// 1, 4, 16 and 64 partitions, five nodes with 4 and 16.
var steadyShapes = []steadyShape{
	{3, 1, true}, {3, 4, true}, {3, 16, true}, {3, 64, true}, {5, 4, true}, {5, 16, true},
}

// steadyRun is what one steady run did.
type steadyRun struct {
	rep        *Report
	real       time.Duration
	ackLatency float64 // mean, simulated ms
}

// playSteady plays a steady workload for durationMs of simulated time.
func playSteady(s steadyShape, seed uint64, durationMs int64) steadyRun {
	p := QuietProfile()
	p.Producers, p.ProduceEveryMs, p.Consumers, p.Topics, p.Partitions = 4, 10, 1, 1, s.partitions
	if !s.acksAll {
		p.AcksAllShare = 0
	}
	start := time.Now()
	w := playWorld(Options{Seed: seed, Nodes: s.nodes, DurationMs: durationMs, Profile: &p})
	real := time.Since(start)
	var latencyMs, acked int64
	for _, op := range w.hist.sends {
		if op.outcome == outcomeOK {
			latencyMs += op.doneMs - op.invokeMs
			acked++
		}
	}
	return steadyRun{rep: w.report(), real: real, ackLatency: float64(latencyMs) / float64(max(acked, 1))}
}

// BenchmarkSimSteady measures how much faster than real time a cluster
// under the steady workload is simulated, as nodes and partitions grow:
// each iteration plays 30 s of simulated time (then heals, converges and
// reads back) with a seed of its own. It reports simulated seconds per
// real second (sim-s/s), runs per minute (seeds/min), events per real
// second, and, in simulated time, sends per second and the mean ack
// latency.
//
//	go test ./sim -run '^$' -bench SimSteady
func BenchmarkSimSteady(b *testing.B) {
	for _, s := range steadyShapes {
		b.Run(s.String(), func(b *testing.B) {
			var simMs, events, sends int64
			var latency float64
			var real time.Duration
			for i := 0; i < b.N; i++ {
				r := playSteady(s, uint64(i+1), 30_000)
				if r.rep.Failed() {
					b.Fatalf("seed %d: %v", i+1, r.rep.Violations[0])
				}
				simMs += r.rep.SimulatedMs
				events += r.rep.Events
				sends += r.rep.Stats.SendsOK
				latency += r.ackLatency
				real += r.real
			}
			reportSpeed(b, simMs, real)
			b.ReportMetric(float64(events)/real.Seconds(), "events/s")
			b.ReportMetric(float64(sends)/(float64(simMs)/1000), "sends/sim-s")
			b.ReportMetric(latency/float64(b.N), "ack-ms")
		})
	}
}

// BenchmarkSimSwarm measures the swarm as make test and make sim play it:
// each iteration plays one seed (its own faults and workload, 60 s of
// faults, then heal, converge, read back, check).
//
//	go test ./sim -run '^$' -bench SimSwarm
func BenchmarkSimSwarm(b *testing.B) {
	var simMs int64
	var real time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep := Run(Options{Seed: uint64(i + 1), DurationMs: testDurationMs})
		real += time.Since(start)
		if rep.Failed() {
			b.Fatalf("seed %d: %v", i+1, rep.Violations[0])
		}
		simMs += rep.SimulatedMs
	}
	reportSpeed(b, simMs, real)
}

func reportSpeed(b *testing.B, simMs int64, real time.Duration) {
	b.ReportMetric(float64(simMs)/1000/real.Seconds(), "sim-s/s")
	b.ReportMetric(float64(b.N)/real.Minutes(), "seeds/min")
}

// TestSteadyWorkload checks, in simulated time (so the same on any
// machine), what the benchmark's shapes do: no violation, every producer
// acknowledged promptly (mean ack latency under 15 ms: the fetcher puts
// freshly appended partitions into the next Fetch, where acks=all once
// took 118-340 ms), and the number of events per simulated second, a
// measure of the simulator's own cost, within bounds (a core that asks to
// be woken again and again shows there).
func TestSteadyWorkload(t *testing.T) {
	for _, c := range []struct {
		shape        steadyShape
		maxEventsPer float64 // events per simulated second
	}{
		{steadyShape{3, 1, true}, 6000}, {steadyShape{3, 16, true}, 8000}, {steadyShape{5, 4, true}, 8000}, {steadyShape{3, 4, false}, 8000},
	} {
		r := playSteady(c.shape, 1, 20_000)
		if r.rep.Failed() {
			t.Errorf("%s: %v", c.shape, r.rep.Violations[0])
			continue
		}
		perSec := float64(r.rep.Events) / (float64(r.rep.SimulatedMs) / 1000)
		sends := float64(r.rep.Stats.SendsOK) / (float64(r.rep.SimulatedMs) / 1000)
		t.Logf("%s: %.0f sends/s, ack latency %.1f ms, %.0f events per simulated second, %.0f× real time",
			c.shape, sends, r.ackLatency, perSec, float64(r.rep.SimulatedMs)/float64(max(r.real.Milliseconds(), 1)))
		if r.ackLatency > 15 || sends < 100 {
			t.Errorf("%s: %.0f sends/s acknowledged in %.1f ms on average", c.shape, sends, r.ackLatency)
		}
		if perSec > c.maxEventsPer {
			t.Errorf("%s: %.0f events per simulated second, above %.0f", c.shape, perSec, c.maxEventsPer)
		}
	}
}

// playWorld plays a run as Run does, and returns its world.
func playWorld(opts Options) *World {
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	return w
}
