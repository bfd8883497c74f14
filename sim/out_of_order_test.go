package sim

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/cluster"
)

// TestClientKeepsTheNewestLeaderEpoch: a client keeps a partition's leader
// when a broker's metadata names an older leader epoch (a deposed leader,
// paused or cut off, answers with its stale image), as franz-go does, and
// takes the older one only at the sixth answer in a row (franz-go's
// maxEpochRewinds: an unclean election can leave a lower epoch current).
func TestClientKeepsTheNewestLeaderEpoch(t *testing.T) {
	w := newWorld(Options{Seed: 1, Profile: &Profile{}})
	c := w.newClient(producerClient)
	tp := tpKey{"t", 0}
	topic := func(leader, epoch int32) topicMetadata {
		return topicMetadata{name: "t", partitions: []cluster.PartitionImage{{Partition: 0, Leader: leader, LeaderEpoch: epoch}}}
	}
	c.mergeTopic(topic(1, 3))
	c.mergeTopic(topic(2, 4))
	if l, e := c.leader(tp); l != 2 || e != 4 {
		t.Fatalf("leader %d epoch %d, want 2 at epoch 4", l, e)
	}
	for i := range maxEpochRewinds {
		c.mergeTopic(topic(1, 3))
		if l, e := c.leader(tp); l != 2 || e != 4 {
			t.Fatalf("after %d stale answers: leader %d epoch %d, want 2 at epoch 4", i+1, l, e)
		}
	}
	c.mergeTopic(topic(1, 3))
	if l, e := c.leader(tp); l != 1 || e != 3 {
		t.Fatalf("after %d stale answers: leader %d epoch %d, want 1 at epoch 3", maxEpochRewinds+1, l, e)
	}
	// A newer answer in between starts the count again.
	c.mergeTopic(topic(2, 4))
	c.mergeTopic(topic(1, 3))
	c.mergeTopic(topic(3, 5))
	for range maxEpochRewinds {
		c.mergeTopic(topic(2, 4))
	}
	if l, e := c.leader(tp); l != 3 || e != 5 {
		t.Fatalf("leader %d epoch %d, want 3 at epoch 5", l, e)
	}
}

// TestNoOutOfOrderFailureFromStaleMetadata: seed 5200004 (5 nodes, 5
// minutes) partitions n1, the leader of t0/7, away; n4 leads at epoch 1,
// and c5's batches up to sequence 17 are appended there. n1, cut off,
// still answers Metadata naming itself leader at epoch 0. A client that
// took that answer sent sequence 18 to n1, whose producer state ended at
// 6: OUT_OF_ORDER_SEQUENCE_NUMBER, and the producer id failed (8 such
// failures in the run). franz-go and librdkafka ignore metadata of an
// older leader epoch; so does the simulated client now, and the run has
// no out-of-order refusal (none resets a producer, as one would now).
// Since offline replicas' retry timers were fixed the seed no longer cuts
// n1 off that way, but its clients still get hundreds of Metadata answers
// naming an older leader epoch than they know (MetadataRewindsIgnored),
// every one of which the old client took; its producers bump their epochs
// (KIP-360).
func TestNoOutOfOrderFailureFromStaleMetadata(t *testing.T) {
	rep := Run(Options{Seed: 5200004, Nodes: 5, DurationMs: 300_000})
	if rep.Failed() {
		t.Fatalf("seed 5200004: %v", rep.Violations[0])
	}
	s := rep.Stats
	if s.OutOfOrderRewound != 0 || s.IdempotentResets != 0 {
		t.Errorf("%d producers reset by a refusal for their producer, %d out-of-order refusals after the client's metadata went back to an older leader", s.IdempotentResets, s.OutOfOrderRewound)
	}
	if s.IdempotentBatchesPipelined < 500 || s.MetadataRewindsIgnored < 100 || s.IdempotentEpochBumps == 0 {
		t.Errorf("too little happened: %d idempotent batches pipelined, %d stale Metadata answers ignored, %d epochs bumped by their producer",
			s.IdempotentBatchesPipelined, s.MetadataRewindsIgnored, s.IdempotentEpochBumps)
	}
}

// TestPipeGateFollowsFranzGoSinkRules: a pipeline's attempts to one
// partition follow franz-go's rules. Without them seed 5200030 (5 nodes, 5
// minutes) failed c6's producer id: n2, leader of t0/1, lost power with
// it; c6's five batches (sequences 90 to 95) retried each on its own
// timer, 95 reached n2 first when it led again with nothing of the
// producer, was appended as its first batch, and 90 was refused out of
// order behind it.
func TestPipeGateFollowsFranzGoSinkRules(t *testing.T) {
	w := newWorld(Options{Seed: 1, Profile: &Profile{}})
	c := w.newClient(producerClient)
	c.prod = &producerState{pid: 7, seqs: map[tpKey]int32{}}
	pl := c.newBatchPipeline(7, 0, "", pipelineCounts{})
	tp := tpKey{"t", 0}
	var gates []*pipeGate
	for i := range 3 {
		_, b := pl.add(tp, []*sendOp{{tp: tp, value: fmt.Sprint(i)}}, i)
		gates = append(gates, &pipeGate{c: c, pipe: pl.byTp[tp], b: b})
	}
	g0, g1, g2 := gates[0], gates[1], gates[2]
	// In sequence order: 1 waits for 0.
	if g1.mayGo(1) || !g0.mayGo(1) {
		t.Fatalf("batch 1 may go before batch 0, or batch 0 may not go")
	}
	g0.went(1)
	// One at a time on a sink with no ok answer yet.
	if g1.mayGo(1) {
		t.Fatalf("batch 1 may go while batch 0 is out on a sink with no ok answer")
	}
	g0.answered(1, true)
	g0.b.resolved = true
	if !g1.mayGo(1) {
		t.Fatalf("batch 1 may not go after batch 0's ok answer")
	}
	g1.went(1)
	if !g2.mayGo(1) {
		t.Fatalf("batch 2 may not go behind batch 1 on a sink that answered ok")
	}
	// Not to another node while one is out.
	if g2.mayGo(2) {
		t.Fatalf("batch 2 may go to n2 while batch 1 is out at n1")
	}
	// After an error, batch 1 goes again first, alone.
	g1.answered(1, false)
	if g2.mayGo(1) || g2.mayGo(2) {
		t.Fatalf("batch 2 may go before batch 1's retry")
	}
	if !g1.mayGo(2) {
		t.Fatalf("batch 1's retry may not go to the new leader")
	}
	g1.went(2)
	if g2.mayGo(2) {
		t.Fatalf("batch 2 may go to a new sink before its first ok answer")
	}
}

// TestIdempotentProducerResetsAsFranzGo: unclean elections after crashes
// (half of them power losses) leave leaders whose producer state is behind
// what idempotent producers appended; their next batches are refused
// (OUT_OF_ORDER_SEQUENCE_NUMBER). franz-go fails none of the records: it
// takes a new epoch (or id) and sends them again from sequence 0
// (sink.go). So do the simulated producers, with a pipeline (even seeds)
// and without: no idempotent value fails on a refusal for its producer,
// the producers reset, and every refusal is explained by a loss (none is
// S7).
func TestIdempotentProducerResetsAsFranzGo(t *testing.T) {
	p := QuietProfile()
	p.Producers, p.IdempotentProducers, p.Partitions, p.ProduceEveryMs = 0, 2, 2, 20
	p.UncleanShare, p.MinISR, p.CrashEveryMs, p.PowerLossShare, p.DownForMs = 1, 1, 4000, 0.5, 2000
	var resets, resent, lost int64
	for seed := uint64(1); seed <= 6; seed++ {
		p.IdempotentPipeline = map[bool]int{true: 4}[seed%2 == 0]
		p.IdempotentEpochBump = seed%4 < 2
		var timeline strings.Builder
		w := playTxnWorld(Options{Seed: seed, DurationMs: 60_000, Profile: &p, Timeline: &timeline})
		rep := w.report()
		if rep.Failed() {
			t.Fatalf("seed %d: %v\n%s", seed, rep.Violations[0], tail(timeline.String(), 60))
		}
		for _, s := range w.hist.sends {
			if s.idempotent && s.outcome == outcomeFail && slices.ContainsFunc([]int16{kerr.OutOfOrderSequenceNumber.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerEpoch.Code},
				func(code int16) bool { return s.lastError == codeName(code) }) {
				t.Errorf("seed %d: %s's value %q failed: %s", seed, endpointName(s.process), s.value, s.lastError)
			}
		}
		t.Logf("seed %d (pipeline %d, epoch bump %v): %d resets sending %d values again; out-of-order refusals: %d lost, %d deposed, %d rewound",
			seed, p.IdempotentPipeline, p.IdempotentEpochBump, rep.Stats.IdempotentResets, rep.Stats.IdempotentValuesResent,
			rep.Stats.OutOfOrderLost, rep.Stats.OutOfOrderDeposed, rep.Stats.OutOfOrderRewound)
		resets, resent, lost = resets+rep.Stats.IdempotentResets, resent+rep.Stats.IdempotentValuesResent, lost+rep.Stats.OutOfOrderLost
	}
	if resets == 0 || resent == 0 || lost == 0 {
		t.Errorf("too little happened: %d resets, %d values sent again, %d out-of-order refusals after a loss", resets, resent, lost)
	}
}
