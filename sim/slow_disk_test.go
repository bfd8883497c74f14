package sim

import (
	"slices"
	"testing"
)

// slowDiskRun is what a steady run on slow disks did: its acks=all sends'
// ack latencies (simulated ms, sorted) and the appends delayed.
type slowDiskRun struct {
	rep       *Report
	latencies []int64
}

// percentile is the p-th percentile of sorted latencies.
func (r slowDiskRun) percentile(p float64) int64 {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// playSlowDisks plays a workload with every node's disk slow for the whole
// run (follower appends of meanMs on average) and no other fault: one
// producer with acks=all every everyMs over a topic of partitions
// partitions, one consumer.
func playSlowDisks(seed uint64, nodes, partitions int, everyMs, meanMs float64, durationMs int64) slowDiskRun {
	p := QuietProfile()
	p.Producers, p.ProduceEveryMs, p.Partitions = 1, everyMs, partitions
	opts := Options{Seed: seed, Nodes: nodes, DurationMs: durationMs, Profile: &p}
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	for _, n := range w.nodes {
		n.slowDiskUntilMs, n.slowDiskMeanMs = durationMs, meanMs
	}
	w.guard(w.play)
	var lat []int64
	for _, op := range w.hist.sends {
		if op.outcome == outcomeOK && op.invokeMs < durationMs {
			lat = append(lat, op.doneMs-op.invokeMs)
		}
	}
	slices.Sort(lat)
	return slowDiskRun{rep: w.report(), latencies: lat}
}

// TestSlowDiskAcksAll plays acks=all sends while every follower append
// takes 150 ms on average (about half of them beyond the fetcher's outcome
// wait of 100 ms, so that its next Fetch goes without the partition still
// writing): no violation, and the median acknowledgement within 280 ms
// (the mean over three seeds). A partition late for a Fetch gives it up
// once prompt-gap passed (cluster's late.txt); before, it waited for the
// Fetch in flight, parked on the leader's other partitions up to
// replica.fetch.wait.max.ms (500 ms): the median was 320 ms with one send
// every 100 ms over 4 partitions and 609 ms with one every 10 ms over 16
// (now 185 and 190 ms), and half as many sends were acknowledged.
func TestSlowDiskAcksAll(t *testing.T) {
	for _, c := range []struct {
		partitions int
		everyMs    float64
	}{{4, 100}, {16, 10}} {
		var p50, sends int64
		for _, seed := range []uint64{1, 2, 3} {
			r := playSlowDisks(seed, 3, c.partitions, c.everyMs, 150, 60_000)
			if r.rep.Failed() {
				t.Fatalf("%d partitions, seed %d: %v", c.partitions, seed, r.rep.Violations[0])
			}
			s := r.rep.Stats
			t.Logf("%d partitions, a send every %.0f ms, seed %d: %d acks=all sends ok, latency p50 %d ms, p90 %d ms, p99 %d ms, max %d ms; %d appends delayed, %d beyond the outcome wait, %d Fetches given up",
				c.partitions, c.everyMs, seed, len(r.latencies), r.percentile(0.5), r.percentile(0.9), r.percentile(0.99), r.percentile(1),
				s.SlowAppends, s.SlowAppendsPastWait, s.FetchesGivenUp)
			if s.SlowAppendsPastWait == 0 {
				t.Errorf("%d partitions, seed %d: no append outlasted the outcome wait", c.partitions, seed)
			}
			p50 += r.percentile(0.5)
			sends += int64(len(r.latencies))
		}
		if p50/3 > 280 {
			t.Errorf("%d partitions, a send every %.0f ms: %d sends acknowledged, median latency %d ms on average over 3 seeds, above 280 ms",
				c.partitions, c.everyMs, sends, p50/3)
		}
	}
}
