package sim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestShrink: a planted bug's failing fault schedule shrinks to a prefix
// whose cut one fault earlier passes, then to a subset of it that still
// fails with the same checker; the faults kept happen at the same times
// as in the prefix, the subset replays to the same trace, and the replay
// command names the cut. The seed is the first of 1-10 whose shrinking
// drops a fault of the prefix (which seeds do moves with any change to
// the cores).
func TestShrink(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		opts := Options{Seed: seed, DurationMs: 30_000, Plant: PlantSkipTruncation}
		rep := Run(opts)
		if !rep.Failed() {
			continue
		}
		k, shrunk := Shrink(opts, rep)
		if !shrunk.Failed() || k > rep.Faults[len(rep.Faults)-1].Index {
			t.Fatalf("seed %d: shrunk to %d of %d faults: violations %v", seed, k, len(rep.Faults), shrunk.Violations)
		}
		if len(shrunk.SkipFaults) == 0 {
			continue
		}
		prefix := opts
		prefix.LimitFaults, prefix.MaxFaults = true, k
		whole := Run(prefix)
		if !whole.Failed() || whole.Violations[0].Check != shrunk.Violations[0].Check {
			t.Fatalf("seed %d: the prefix of %d faults: %v; the subset: %v", seed, k, whole.Violations, shrunk.Violations)
		}
		at := map[int]int64{}
		for _, f := range whole.Faults {
			at[f.Index] = f.AtMs
		}
		for _, f := range shrunk.Faults {
			if f.Index > k || slices.Contains(shrunk.SkipFaults, f.Index) || at[f.Index] != f.AtMs {
				t.Errorf("seed %d: kept fault %v; in the prefix it was at %s; skipped %v", seed, f, fmtMs(at[f.Index]), shrunk.SkipFaults)
			}
		}
		for _, i := range shrunk.SkipFaults {
			if i < 1 || i >= k {
				t.Errorf("seed %d: skipped fault %d of a prefix of %d", seed, i, k)
			}
		}
		again := prefix
		again.SkipFaults = shrunk.SkipFaults
		if r := Run(again); r.TraceHash != shrunk.TraceHash {
			t.Errorf("seed %d: replaying the subset gives another trace", seed)
		}
		if cmd := shrunk.ReplayCommand(); !strings.Contains(cmd, fmt.Sprintf("--faults %d --skip-faults %s", k, joinInts(shrunk.SkipFaults))) {
			t.Errorf("seed %d: replay command %q", seed, cmd)
		}
		less := opts
		less.LimitFaults, less.MaxFaults = true, k-1
		if r := Run(less); r.Failed() {
			t.Errorf("seed %d: with %d faults the run fails too: %v", seed, k-1, r.Violations[0])
		}
		t.Logf("seed %d, skip-truncation: %d faults; the first %d fail; %d of them fail without faults %v: %v",
			seed, len(rep.Faults), k, len(shrunk.Faults), shrunk.SkipFaults, shrunk.Violations[0])
		return
	}
	t.Fatal("no seed of 1-10 shrinks below its shortest failing prefix")
}
