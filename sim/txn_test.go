package sim

import (
	"strings"
	"testing"
)

// TestTxnWorkload: a seed with idempotent and transactional producers,
// copiers and read_committed consumers runs transaction coordinators on
// the leaders of __transaction_state, whose transactions commit and abort,
// with their markers in every partition, and the checkers find nothing.
func TestTxnWorkload(t *testing.T) {
	for _, faults := range []bool{false, true} {
		p := QuietProfile()
		p.IdempotentProducers, p.TxnProducers, p.Copiers, p.ReadCommitted = 1, 2, 1, true
		p.TxnAbortP, p.TxnTimeoutMs, p.Partitions = 0.2, 8000, 2
		if faults {
			p.CrashEveryMs, p.DownForMs, p.DropP, p.DupP = 15000, 2000, 0.01, 0.02
		}
		var timeline strings.Builder
		w := playTxnWorld(Options{Seed: 3, DurationMs: 30_000, Profile: &p, Timeline: &timeline})
		rep := w.report()
		if rep.Failed() {
			t.Fatalf("faults %t: %v\n%s", faults, rep.Violations[0], tail(timeline.String(), 60))
		}
		count := map[outcome]int{}
		copied := 0
		for _, op := range w.txn.txns {
			count[op.outcome]++
			if op.group != "" && op.outcome == outcomeOK {
				copied += len(op.writes)
			}
		}
		idempotent := 0
		for _, s := range w.hist.sends {
			if s.idempotent && s.outcome == outcomeOK {
				idempotent++
			}
		}
		t.Logf("faults %t: %d transactions: %d committed, %d aborted, %d unknown; %d records copied; %d idempotent sends ok; %d crashes",
			faults, len(w.txn.txns), count[outcomeOK], count[outcomeFail], count[outcomeInfo], copied, idempotent, rep.Stats.Crashes)
		if count[outcomeOK] < 5 || count[outcomeFail] < 1 || copied == 0 || idempotent < 10 {
			t.Errorf("faults %t: too little happened", faults)
		}
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// playTxnWorld plays a whole run and returns its world.
func playTxnWorld(opts Options) *World {
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	return w
}
