package sim

import (
	"math/rand/v2"
	"testing"
)

// TestClockDeadlinesConvert checks a drifting clock's conversion of its
// deadlines into virtual time, across rate changes: virtualAt(e) is the
// first virtual time at which the clock has run e ms, so a node woken then
// finds its deadline passed, and not a millisecond earlier.
func TestClockDeadlinesConvert(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := nodeClock{}
	now := int64(0)
	for range 2000 {
		now += r.Int64N(5000)
		c.setDrift(now, drawDrift(r, plantDriftPermille))
		if e := c.elapsedMs(now); e < c.anchorElapsedMs || c.virtualAt(e) > now {
			t.Fatalf("at %d (drift %d): elapsed %d converts back to %d", now, c.driftPermille, e, c.virtualAt(e))
		}
		for range 20 {
			deadline := c.elapsedMs(now) + 1 + r.Int64N(20_000)
			v := c.virtualAt(deadline)
			if v <= now || c.elapsedMs(v) < deadline || c.elapsedMs(v-1) >= deadline {
				t.Fatalf("drift %d, anchor (%d, %d): deadline %d converts to %d, where the clock reads %d (and %d a ms before)",
					c.driftPermille, c.anchorV, c.anchorElapsedMs, deadline, v, c.elapsedMs(v), c.elapsedMs(v-1))
			}
		}
	}
	// Rates multiply: a minute at +5% is 63 s of the clock.
	c = nodeClock{}
	c.setDrift(0, 50)
	if got := c.elapsedMs(60_000); got != 63_000 {
		t.Fatalf("a minute at +5%%: %d ms", got)
	}
	if got := c.virtualAt(1 << 62); got != never {
		t.Fatalf("a deadline out of reach converts to %d", got)
	}
}

// TestDriftStaysInTheMargin checks that swarm profiles draw drifts within
// the cores' margin (maxDriftPermille) and the plant beyond it: two clocks
// at the limits differ in rate by less than 10% (1.05/0.95 < 1/0.9).
func TestDriftStaysInTheMargin(t *testing.T) {
	if (1000+maxDriftPermille)*900 >= (1000-maxDriftPermille)*1000 {
		t.Fatalf("drifts of ±%d‰ leave the cores' 10%% margin", maxDriftPermille)
	}
	for seed := uint64(1); seed <= 300; seed++ {
		p := DrawProfile(seed)
		if l := driftLimit(p, PlantNone); l > maxDriftPermille || l < 0 {
			t.Fatalf("seed %d draws drifts up to %d‰", seed, l)
		}
	}
	if driftLimit(QuietProfile(), PlantClockDrift) <= maxDriftPermille {
		t.Fatalf("the clock-drift plant stays within the margin")
	}
}
