package sim

import "testing"

// TestReadCommittedCheck is Q6 on hand-built histories: a read_committed
// poll may deliver a transaction's record only once a marker of its
// producer past the record was below a leader's high watermark.
func TestReadCommittedCheck(t *testing.T) {
	tp := tpKey{"t", 0}
	// A marker appended at appendMs, passed by a high watermark at hwMs
	// (-1: never).
	type marker struct{ pid, offset, appendMs, hwMs int64 }
	for _, tc := range []struct {
		name      string
		markers   []marker
		committed bool
		want      string
	}{
		{"marker below the high watermark before the poll", []marker{{5, 1, 40, 50}}, true, ""},
		{"marker below the high watermark at the poll's instant", []marker{{5, 1, 100, 100}}, true, ""},
		{"no marker", nil, true, "Q6"},
		{"marker appended before the poll, the high watermark past it after", []marker{{5, 1, 50, 150}}, true, "Q6"},
		{"marker appended before the poll, never below the high watermark", []marker{{5, 1, 50, -1}}, true, "Q6"},
		{"marker appended after the poll", []marker{{5, 1, 150, 160}}, true, "Q6"},
		{"marker of another producer", []marker{{6, 1, 40, 50}}, true, "Q6"},
		{"marker of the producer's earlier transaction", []marker{{5, -1, 40, 50}}, true, "Q6"},
		{"read_uncommitted poll of an open transaction", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			c := w.newClient(consumerClient)
			c.meta.topics["t"] = topicMetadata{name: "t", minISR: 2, partitions: nil}
			write := &sendOp{tp: tp, value: "a", offset: 0, acks: -1, outcome: outcomeOK, process: clientBase + 2}
			w.txn.txns = []*txnOp{{process: clientBase + 2, tid: "tx", pid: 5, partitions: []tpKey{tp}, writes: []*sendOp{write}, commit: true, outcome: outcomeOK}}
			w.hist.polls = []*pollOp{{tp: tp, position: 0, process: clientBase + 1, atMs: 100, committed: tc.committed,
				records: []readRecord{{offset: 0, value: "a"}}}}
			for _, m := range tc.markers {
				w.now = m.appendMs
				w.txn.checks.markerAppended(tp, m.pid, m.offset)
				w.txn.checks.leaderHighWatermark(tp, m.offset) // not past it yet
				if m.hwMs >= 0 {
					w.now = m.hwMs
					w.txn.checks.leaderHighWatermark(tp, m.offset+1)
				}
			}
			w.now = 200
			w.checkHistory(false)
			got := ""
			if len(w.violations) > 0 {
				got = w.violations[0].Check
			}
			if got != tc.want {
				t.Errorf("checkers found %q (%v), want %q", got, w.violations, tc.want)
			}
		})
	}
}

// TestReadOpenFoundOnlyByQ6: with the read-open plant, seed 9 (30 s) has a
// read_committed consumer deliver records of transactions still open, none
// of which aborts: Q6 finds it, and without Q6 no checker does (Q5 sees
// only a transaction read while open that then aborts).
func TestReadOpenFoundOnlyByQ6(t *testing.T) {
	const seed = 9
	play := func(noQ6 bool) *World {
		defer seedCryptoRand(seed)()
		w := newWorld(Options{Seed: seed, DurationMs: 30_000, Plant: PlantReadOpen})
		w.txn.checks.noReadCommittedCheck = noQ6
		w.guard(w.play)
		return w
	}
	w := play(false)
	if len(w.violations) == 0 || w.violations[0].Check != "Q6" {
		t.Fatalf("seed %d with the read-open plant: violations %v, want Q6 first", seed, w.violations)
	}
	if w := play(true); len(w.violations) != 0 {
		t.Logf("without Q6: %v", w.violations)
		t.Fatalf("seed %d with the read-open plant and Q6 off: found by %s; the test no longer shows a read Q6 alone sees", seed, w.violations[0].Check)
	}
}
