package sim

import (
	"strings"
	"testing"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/txn"
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
			p.DropP, p.DupP, p.PartitionEveryMs, p.PartitionForMs, p.ClientCutEveryMs = 0.01, 0.02, 12_000, 3000, 8000
		}
		var timeline strings.Builder
		// The faulty run plays seed 13: how much a seed's faults leave to
		// happen varies several-fold between seeds and with any change of
		// schedule (seed 3 fell to 5 transactions once the cluster's first
		// records named it and finalized gregor.replication.version, a
		// registration lost to the network costing a broker 4 s; 7 and 8
		// did too little already before; 6 copied nothing once the
		// transaction coordinators held requests through a lapsed lease,
		// a follower's fetch answer lost to the network then holding
		// acks=all appends for 5 s).
		seed := uint64(3)
		if faults {
			seed = 13
		}
		w := playTxnWorld(Options{Seed: seed, DurationMs: 30_000, Profile: &p, Timeline: &timeline})
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
		if count[outcomeOK] < 3 || count[outcomeFail] < 1 || copied == 0 || idempotent < 10 {
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

// mustPlayStats plays seed on profile p for durationMs and returns its
// stats, failing the test at a violation with the timeline's last
// tailLines lines.
func mustPlayStats(t *testing.T, p *Profile, seed uint64, durationMs int64, tailLines int) Stats {
	t.Helper()
	var timeline strings.Builder
	rep := playTxnWorld(Options{Seed: seed, DurationMs: durationMs, Profile: p, Timeline: &timeline}).report()
	if rep.Failed() {
		t.Fatalf("seed %d: %v\n%s", seed, rep.Violations[0], tail(timeline.String(), tailLines))
	}
	return rep.Stats
}

// playTxnWorld plays a whole run and returns its world.
func playTxnWorld(opts Options) *World {
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	return w
}

// TestTxnCheckersCatchBadHistories feeds the transaction checkers
// hand-built bad histories (CORRECTNESS.md H3).
func TestTxnCheckersCatchBadHistories(t *testing.T) {
	tp, tp2 := tpKey{"t", 0}, tpKey{"t", 1}
	topic := topicMetadata{name: "t", minISR: 2, partitions: []cluster.PartitionImage{{Partition: 0, Replicas: []int32{1, 2, 3}}, {Partition: 1, Replicas: []int32{1, 2, 3}}}}
	poll := func(tp tpKey, committed bool, position int64, values ...string) *pollOp {
		p := &pollOp{tp: tp, position: position, process: clientBase + 1, committed: committed}
		for i, v := range values {
			k := recData
			if v == "" {
				k = recControl
			} else if strings.HasPrefix(v, "!") {
				k, v = recAborted, v[1:]
			}
			p.records = append(p.records, readRecord{offset: position + int64(i), value: v, kind: k})
		}
		return p
	}
	write := func(tp tpKey, value string, offset int64) *sendOp {
		return &sendOp{tp: tp, value: value, offset: offset, acks: -1, outcome: outcomeOK, process: clientBase + 2}
	}
	txnOf := func(o outcome, writes ...*sendOp) *txnOp {
		return &txnOp{process: clientBase + 2, tid: "tx", seq: 1, outcome: o, writes: writes}
	}
	idem := func(value string, offset int64) *sendOp {
		s := write(tp, value, offset)
		s.idempotent = true
		return s
	}
	copyTxn := func(value string, offset int64, src int64) *txnOp {
		op := txnOf(outcomeOK, write(tp2, value, offset))
		op.group, op.sources = "g", []txnSource{{tp, src}}
		return op
	}
	for _, tc := range []struct {
		name  string
		sends []*sendOp
		txns  []*txnOp
		polls []*pollOp
		want  string
	}{
		{"an idempotent value twice", []*sendOp{idem("a", 0)}, nil, []*pollOp{poll(tp, false, 0, "a", "a")}, "Q2"},
		{"a transactional value twice", nil, []*txnOp{txnOf(outcomeOK, write(tp, "a", 0))}, []*pollOp{poll(tp, true, 0, "a", "a", "")}, "Q2"},
		{"an aborted value delivered", nil, []*txnOp{txnOf(outcomeFail, write(tp, "a", 0))}, []*pollOp{poll(tp, true, 0, "a", "")}, "Q5"},
		{"an aborted value skipped", nil, []*txnOp{txnOf(outcomeFail, write(tp, "a", 0))}, []*pollOp{poll(tp, true, 0, "!a", "")}, ""},
		{"an aborted value read uncommitted", nil, []*txnOp{txnOf(outcomeFail, write(tp, "a", 0))}, []*pollOp{poll(tp, false, 0, "a", "")}, ""},
		{"a committed transaction torn", nil, []*txnOp{txnOf(outcomeOK, write(tp, "a", 0), write(tp2, "b", 0))},
			[]*pollOp{poll(tp, true, 0, "a", ""), poll(tp2, true, 0, "!b", "")}, "Q10"},
		{"a committed transaction not delivered", nil, []*txnOp{txnOf(outcomeOK, write(tp, "a", 0))}, []*pollOp{poll(tp, true, 0, "!a", "")}, "Q10"},
		{"an unknown transaction torn", nil, []*txnOp{txnOf(outcomeInfo, write(tp, "a", 0), write(tp, "b", 1))},
			[]*pollOp{poll(tp, true, 0, "a", "!b", "")}, "Q10"},
		{"an unknown transaction not delivered", nil, []*txnOp{txnOf(outcomeInfo, write(tp, "a", 0), write(tp, "b", 1))},
			[]*pollOp{poll(tp, true, 0, "!a", "!b", "")}, ""},
		{"an input copied twice", nil, []*txnOp{copyTxn("c1", 0, 7), copyTxn("c2", 1, 7)}, []*pollOp{poll(tp2, true, 0, "c1", "c2", "")}, "Q12"},
		{"a good history", []*sendOp{idem("x", 0)}, []*txnOp{txnOf(outcomeOK, write(tp, "a", 2), write(tp2, "b", 0)), copyTxn("c1", 2, 7)},
			[]*pollOp{poll(tp, true, 0, "x", "", "a", ""), poll(tp2, true, 0, "b", "", "c1", "")}, ""},
		{"an open transaction's value delivered", nil, []*txnOp{txnOf(outcomeOK, write(tp, "a", 0))}, []*pollOp{poll(tp, true, 0, "a")}, "Q6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			c := w.newClient(consumerClient)
			c.meta.topics["t"] = topic
			w.hist.sends, w.hist.polls, w.txn.txns = tc.sends, tc.polls, tc.txns
			for _, p := range tc.polls {
				for _, r := range p.records {
					if r.kind == recControl { // a marker below the high watermark before the poll (Q6)
						w.txn.checks.markerAppended(p.tp, 0, r.offset)
						w.txn.checks.leaderHighWatermark(p.tp, r.offset+1)
					}
				}
			}
			w.checkHistory(true)
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

// TestTxnServerChecks feeds the server-side transaction checks bad logs:
// a gap in a producer's sequences, a newer epoch not starting at 0, a
// marker against its coordinator's decision, one without a decision.
func TestTxnServerChecks(t *testing.T) {
	seqCaseDropped := func(dropped []offsetRange, batches ...shadowBatch) string {
		w := newWorld(Options{Seed: 1, Profile: &Profile{}})
		h := &replicaHost{n: w.node(1), key: tpKey{"t", 0}}
		w.checks.dropped[h.key] = dropped
		h.shadow.batches = batches
		w.txn.checks.scanSequences(h)
		if len(w.violations) > 0 {
			return w.violations[0].Check
		}
		return ""
	}
	seqCase := func(batches ...shadowBatch) string { return seqCaseDropped(nil, batches...) }
	b := func(base int64, pid int64, epoch int16, seq int32) shadowBatch {
		return shadowBatch{base: base, last: base, pid: pid, pepoch: epoch, seq: seq, chain: uint64(base + 1)}
	}
	for _, tc := range []struct {
		name    string
		batches []shadowBatch
		want    string
	}{
		{"contiguous", []shadowBatch{b(0, 7, 0, 0), b(1, 7, 0, 1), b(2, -1, -1, -1), b(3, 7, 1, 0), b(4, 8, 0, 5)}, ""},
		{"a gap", []shadowBatch{b(0, 7, 0, 0), b(1, 7, 0, 2)}, "S7"},
		{"a repeat", []shadowBatch{b(0, 7, 0, 0), b(1, 7, 0, 0)}, "S7"},
		{"a new epoch not at 0", []shadowBatch{b(0, 7, 0, 0), b(1, 7, 1, 1)}, "S7"},
		// A fenced epoch's batch appended after the newer epoch's, even
		// at the sequence that epoch would go on with.
		{"an older epoch after a newer", []shadowBatch{b(0, 7, 0, 0), b(1, 7, 1, 0), b(2, 7, 0, 1)}, "S7"},
		{"an older epoch after a newer, from 0", []shadowBatch{b(0, 7, 1, 0), b(1, 7, 0, 0)}, "S7"},
	} {
		if got := seqCase(tc.batches...); got != tc.want {
			t.Errorf("%s: checks found %q, want %q", tc.name, got, tc.want)
		}
	}
	// A power loss that dropped offsets between two batches of a producer
	// (and so maybe its batches there) excuses the break; one elsewhere
	// does not.
	if got := seqCaseDropped([]offsetRange{{node: 1, from: 1, to: 5}}, b(0, 7, 1, 0), b(1, 7, 2, 3)); got != "" {
		t.Errorf("a new epoch not at 0 after a power loss dropped offsets between: checks found %q, want none", got)
	}
	if got := seqCaseDropped([]offsetRange{{node: 1, from: 1, to: 5}}, b(0, 7, 0, 0), b(1, 7, 0, 4)); got != "" {
		t.Errorf("a gap after a power loss dropped offsets between: checks found %q, want none", got)
	}
	if got := seqCaseDropped([]offsetRange{{node: 1, from: 1, to: 5}}, b(0, 7, 1, 0), b(1, 7, 0, 0)); got != "" {
		t.Errorf("an older epoch after a power loss dropped offsets between: checks found %q, want none", got)
	}
	if got := seqCaseDropped([]offsetRange{{node: 1, from: 10, to: 15}}, b(0, 7, 0, 0), b(1, 7, 0, 4)); got != "S7" {
		t.Errorf("a gap with a power loss elsewhere: checks found %q, want S7", got)
	}
	markerCase := func(decided map[pidEpoch]bool, commit bool) string {
		w := newWorld(Options{Seed: 1, Profile: &Profile{}})
		w.txn.checks.decisions = decided
		h := &replicaHost{n: w.node(1), key: tpKey{"t", 0}}
		w.txn.checks.leaderAppended(h, [][]byte{logstore.TxnMarkerBatch(7, 2, 0, commit, wallStartMs)}, []int64{10})
		if len(w.violations) > 0 {
			return w.violations[0].Check
		}
		return ""
	}
	if got := markerCase(map[pidEpoch]bool{{7, 2}: true}, true); got != "" {
		t.Errorf("a commit marker for a commit: %q", got)
	}
	if got := markerCase(map[pidEpoch]bool{{7, 2}: true}, false); got != "S8" {
		t.Errorf("an abort marker for a commit: %q, want S8", got)
	}
	if got := markerCase(map[pidEpoch]bool{{7, 1}: false}, false); got != "S8" {
		t.Errorf("a marker without a decision: %q, want S8", got)
	}
}

// TestWrongMarkerFoundByClients shows the client-side checkers catch the
// wrong-marker plant without the server-side marker check: a committed
// transaction not delivered whole by the final read_committed read (Q10),
// or a copier's input copied twice (Q12). Measured over seeds 1-30 with
// 30 s faulty phases: 4 found (first: seed 2); on compacted topics
// compaction removes what the wrong abort marker aborted, hiding it from
// the clients.
func TestWrongMarkerFoundByClients(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		w := func() *World {
			defer seedCryptoRand(seed)()
			w := newWorld(Options{Seed: seed, DurationMs: 30_000, Plant: PlantWrongMarker})
			w.txn.checks.noMarkerCheck = true
			w.guard(w.play)
			return w
		}()
		if len(w.violations) == 0 {
			continue
		}
		if v := w.violations[0]; v.Check != "Q10" && v.Check != "Q5" && v.Check != "Q12" {
			t.Fatalf("seed %d: found by %s, not by Q10, Q5 or Q12: %s", seed, v.Check, v)
		}
		t.Logf("seed %d: %s", seed, w.violations[0])
		return
	}
	t.Errorf("the wrong-marker plant was not found by the client-side checkers within 30 seeds")
}

// TestWrongMarkerFoundByClientsInWipes: in the wipe profile, with S8 off,
// the client-side checkers still find the wrong-marker plant. Wipes and
// power losses there touch a replica of nearly every partition, and of
// the coordinators' __transaction_state partitions; none loses committed
// records, so none excuses a torn transaction. Measured over seeds 1-30
// with 30 s faulty phases: 24 found (first: seed 2, all but one by Q10);
// when any replica's lost offsets excused a transaction, 6 (first: seed
// 4; of seeds 1-12, 3).
func TestWrongMarkerFoundByClientsInWipes(t *testing.T) {
	found := 0
	for seed := uint64(1); seed <= 12; seed++ {
		p, _ := ProfileByName("wipe", seed)
		w := func() *World {
			defer seedCryptoRand(seed)()
			w := newWorld(Options{Seed: seed, DurationMs: 30_000, Plant: PlantWrongMarker, Profile: &p, ProfileName: "wipe"})
			w.txn.checks.noMarkerCheck = true
			w.guard(w.play)
			return w
		}()
		if len(w.violations) == 0 {
			continue
		}
		if v := w.violations[0]; v.Check != "Q10" && v.Check != "Q5" && v.Check != "Q12" {
			t.Fatalf("seed %d: found by %s, not by Q10, Q5 or Q12: %s", seed, v.Check, v)
		}
		found++
	}
	if found < 8 {
		t.Errorf("the wrong-marker plant was found by the client-side checkers in %d of seeds 1-12 of the wipe profile, want 8 or more", found)
	}
}

// TestTxnChecksExcuseOnlyCommittedLosses shows which losses excuse a torn
// or aborted-but-delivered transaction: on partitions that promise their
// acknowledged writes (min.insync.replicas 2 of 3 replicas) only a loss of
// committed records (World.stateLost) since the transaction began, of the
// written partition or of the coordinator's __transaction_state
// partition; not a power loss or wipe of one replica, which KIP-966's
// rules survive. On a partition with min.insync.replicas 1, a power loss
// that dropped offsets at or past the write still does. A loss of the
// coordinator's partition since an earlier transaction under the same
// producer id and epoch began excuses it too: the coordinator may hand that
// epoch out again, and the partitions then take the transaction's batches
// for duplicates of the earlier one's (seed 13466057 of the deleterecords
// profile at 7b2f106).
func TestTxnChecksExcuseOnlyCommittedLosses(t *testing.T) {
	tp, tp2 := tpKey{"t", 0}, tpKey{"t", 1}
	state := txnStateKey("tx")
	replicas := []int32{1, 2, 3}
	topics := map[string]topicMetadata{
		"t":            {name: "t", minISR: 2, partitions: []cluster.PartitionImage{{Partition: 0, Replicas: replicas}, {Partition: 1, Replicas: replicas}}},
		txn.StateTopic: {name: txn.StateTopic, minISR: 2, partitions: make([]cluster.PartitionImage, txnStatePartitions)},
	}
	for i := range topics[txn.StateTopic].partitions {
		topics[txn.StateTopic].partitions[i] = cluster.PartitionImage{Partition: int32(i), Replicas: replicas}
	}
	// A committed transaction begun at 10 s, torn: its write to t/1 is
	// read as aborted.
	torn := func() ([]*txnOp, []*pollOp) {
		op := &txnOp{process: clientBase + 2, tid: "tx", seq: 2, epoch: 1, outcome: outcomeOK, invokeMs: 10_000,
			writes: []*sendOp{{tp: tp, value: "a", offset: 0, acks: -1, outcome: outcomeOK}, {tp: tp2, value: "b", offset: 0, acks: -1, outcome: outcomeOK}}}
		return []*txnOp{op}, []*pollOp{
			{tp: tp, position: 0, committed: true, process: clientBase + 1, records: []readRecord{{offset: 0, value: "a", kind: recData}, {offset: 1, kind: recControl}}},
			{tp: tp2, position: 0, committed: true, process: clientBase + 1, records: []readRecord{{offset: 0, value: "b", kind: recAborted}, {offset: 1, kind: recControl}}}}
	}
	wipe := func(k tpKey) func(w *World) {
		return func(w *World) {
			w.now = 20_000
			w.checks.dataWiped(k, 2, 5)
		}
	}
	powerLoss := func(k tpKey) func(w *World) {
		return func(w *World) {
			w.now = 20_000
			w.checks.dataLost(k, 1, 0, 2)
		}
	}
	epoch0, epoch1 := int16(0), int16(1)
	committedLoss := func(k tpKey, atMs int64) func(w *World) {
		return func(w *World) {
			w.now = atMs
			w.lossEra[k]++
			w.stateLost(k)
		}
	}
	for _, tc := range []struct {
		name   string
		minISR int
		loss   func(w *World)
		want   string
		// earlier, when not nil, is the epoch of an aborted transaction of
		// the same producer id (0) begun at 2 s.
		earlier *int16
	}{
		{"no loss", 2, func(*World) {}, "Q10", nil},
		{"a wipe of a replica of the written partition", 2, wipe(tp2), "Q10", nil},
		{"a power loss on a replica of the written partition", 2, powerLoss(tp2), "Q10", nil},
		{"a wipe of a replica of the coordinator's partition", 2, wipe(state), "Q10", nil},
		{"a power loss on a replica of the coordinator's partition", 2, powerLoss(state), "Q10", nil},
		{"the written partition lost committed records before the transaction", 2, committedLoss(tp2, 5_000), "Q10", nil},
		{"the written partition lost committed records after it began", 2, committedLoss(tp2, 20_000), "", nil},
		{"the coordinator's partition lost committed records before the transaction", 2, committedLoss(state, 5_000), "Q10", nil},
		{"the coordinator's partition lost committed records after it began", 2, committedLoss(state, 20_000), "", nil},
		{"a power loss on the written partition at min.insync.replicas 1", 1, powerLoss(tp2), "", nil},
		{"the coordinator's partition lost committed records after an earlier transaction of its epoch began", 2, committedLoss(state, 5_000), "", &epoch1},
		{"the coordinator's partition lost committed records after an earlier transaction of an older epoch began", 2, committedLoss(state, 5_000), "Q10", &epoch0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			c := w.newClient(consumerClient)
			for name, m := range topics {
				if name == "t" {
					m.minISR = tc.minISR
				}
				c.meta.topics[name] = m
			}
			w.txn.txns, w.hist.polls = torn()
			if tc.earlier != nil {
				earlier := &txnOp{process: clientBase + 2, tid: "tx", seq: 1, epoch: *tc.earlier, outcome: outcomeFail, invokeMs: 2_000, doneMs: 3_000}
				w.txn.txns = append([]*txnOp{earlier}, w.txn.txns...)
				// The coordinator hands epoch 1 out (again, for an earlier
				// transaction under it) at 8 s.
				w.txn.noteEpochIssued("tx", 0, 1, 8_000)
			}
			// The markers the polls read at offset 1, appended and below
			// the high watermark before them (Q6).
			w.txn.checks.markerAppended(tp, 0, 1)
			w.txn.checks.markerAppended(tp2, 0, 1)
			w.txn.checks.leaderHighWatermark(tp, 2)
			w.txn.checks.leaderHighWatermark(tp2, 2)
			tc.loss(w)
			w.checkHistory(true)
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
