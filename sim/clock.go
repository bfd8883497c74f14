package sim

import (
	"fmt"
	"math/rand/v2"

	"gregor/cluster"
)

// A node's clocks. Both run off one oscillator, which may run fast or slow
// (Profile.ClockDriftPermille): the node's clocks advance (1000+drift)/1000
// ms for each ms of virtual time, from the last time the rate changed (the
// anchor). The monotonic clock starts at an origin of the node's own and
// runs on across its process's restarts, as a machine's clock does; the
// wall clock is the same elapsed time from the run's wall start, plus the
// steps clock jumps made (wallOffsetMs).
//
// Production's broker lease and the quorum's leadership hold allow the
// clocks of two nodes to differ in rate by up to 10%
// (cluster.BrokerLeaseMs, quorum's holdDriftPermille): a drift of up to
// ±5% on every node stays within it (maxDriftPermille). A larger one is
// outside the guarantees; PlantClockDrift plays it, for the checkers to
// catch.
type nodeClock struct {
	// monoBaseMs is the monotonic clock's reading at virtual time 0 at
	// rate 1000.
	monoBaseMs int64
	// driftPermille is the rate's difference from virtual time, in
	// thousandths; anchorV and anchorElapsedMs are the virtual time of the
	// last rate change and the clock's elapsed ms then.
	driftPermille            int64
	anchorV, anchorElapsedMs int64
	wallOffsetMs             int64
}

// maxDriftPermille is the largest drift, either way, within the cores'
// margin of 10% between two nodes' clocks (1.05/0.95 < 1/0.9).
const maxDriftPermille = 50

// plantDriftPermille is the drift PlantClockDrift draws up to, either way:
// twice the margin.
const plantDriftPermille = 150

// elapsedMs is how far the clock has run at virtual time v (v >= anchorV).
func (c *nodeClock) elapsedMs(v int64) int64 {
	return c.anchorElapsedMs + (v-c.anchorV)*(1000+c.driftPermille)/1000
}

// virtualAt is the first virtual time at which the clock has run
// elapsed ms (never for a deadline too far to reach).
func (c *nodeClock) virtualAt(elapsed int64) int64 {
	d := elapsed - c.anchorElapsedMs
	if d <= 0 {
		return c.anchorV + d
	}
	if d > 1<<50 {
		return never
	}
	rate := 1000 + c.driftPermille
	return c.anchorV + (d*1000+rate-1)/rate
}

// setDrift changes the clock's rate from virtual time now.
func (c *nodeClock) setDrift(now, permille int64) {
	c.anchorElapsedMs, c.anchorV = c.elapsedMs(now), now
	c.driftPermille = permille
}

// instant is the node's time: monotonic and wall.
func (n *node) instant() cluster.Instant {
	e := n.clock.elapsedMs(n.w.now)
	return cluster.Instant{WallMs: wallStartMs + e + n.clock.wallOffsetMs, MonoMs: n.clock.monoBaseMs + e}
}

// monoToVirtual turns one of the node's monotonic deadlines into virtual
// time: the first at which the node's clock reads it, at the clock's rate
// now.
func (n *node) monoToVirtual(ms int64) int64 {
	if ms >= never-n.clock.monoBaseMs {
		return never
	}
	return n.clock.virtualAt(ms - n.clock.monoBaseMs)
}

// after runs fn in this process of the node once delayMs passed by the
// node's clock (a timer of the process), at the clock's rate now: a rate
// change later moves the cores' deadlines (setDrift) but not such timers
// (RPC timeouts, retries), which then fire a few percent early or late.
func (n *node) after(delayMs int64, fn func()) {
	n.at(n.monoToVirtual(n.instant().MonoMs+delayMs), fn)
}

// setDrift makes n's clocks run permille thousandths fast (or slow) from
// now, and moves the node's wake-up to its cores' deadlines at that rate.
func (w *World) setDrift(n *node, permille int64) {
	if permille == n.clock.driftPermille {
		return
	}
	n.clock.setDrift(w.now, permille)
	w.timelinef("fault: %s clock runs %+.1f%%", n.name(), float64(permille)/10)
	w.rec.span(w.now, w.now, "clock", n.name(), fmt.Sprintf("clock runs %+.1f%%", float64(permille)/10))
	n.wakeAtMs = never
	n.rearm()
}

// drawDrift draws a drift of up to maxPermille either way.
func drawDrift(r *rand.Rand, maxPermille int64) int64 {
	return r.Int64N(2*maxPermille+1) - maxPermille
}

// driftLimit is the largest drift either way a run's clocks draw, in
// thousandths: the profile's ClockDriftPermille up to maxDriftPermille,
// plantDriftPermille under PlantClockDrift.
func driftLimit(p Profile, plant Plant) int64 {
	if plant == PlantClockDrift {
		return plantDriftPermille
	}
	return min(int64(p.ClockDriftPermille), maxDriftPermille)
}

// startDrift gives every node the drift of its oscillator at the start:
// up to the profile's ClockDriftPermille either way (plantDriftPermille
// under PlantClockDrift).
func (w *World) startDrift() {
	limit := driftLimit(w.profile, w.opts.Plant)
	if limit <= 0 {
		return
	}
	r := newRand(w.opts.Seed, streamClock)
	for _, n := range w.nodes {
		n.clock.setDrift(w.now, drawDrift(r, limit))
		w.timelinef("start: %s clock runs %+.1f%%", n.name(), float64(n.clock.driftPermille)/10)
	}
	if w.opts.Plant == PlantClockDrift {
		w.stats.PlantFired++
	}
}

// clockDrift changes a node's drift to another within the profile's
// ClockDriftPermille (a machine's oscillator warming or cooling).
func (f *faultInjector) clockDrift(r *rand.Rand) {
	w := f.w
	n := w.nodes[r.IntN(len(w.nodes))]
	w.stats.ClockDrifts++
	w.setDrift(n, drawDrift(r, driftLimit(w.profile, w.opts.Plant)))
}
