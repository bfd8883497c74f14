package sim

import "testing"

// TestIdempotentPipelineRetriesBehindAnUnresolvedBatch: idempotent
// producers that keep up to 5 batches in flight per partition, in a
// cluster whose leaders move (controlled shutdowns) and whose messages get
// lost, have later batches refused as out of order behind an earlier one
// (lost, or timed out), retry them behind it, and the checkers (Q2 no
// duplicate, Q8 send order) find nothing. With neither power losses nor
// partitions (no log loses a producer's batches, no deposed leader answers
// from an old state) no producer is reset by an out-of-order refusal: the retry of a
// batch whose later batches were appended is answered as a duplicate,
// because a producer never sends more than 5 batches to a partition from
// its first batch without an outcome on (the leader remembers the last 5).
// Six seeds: how often a seed reaches a refusal shifts with any change of
// schedule. Since the client follows franz-go's sink rules
// (client_pipeline.go's pipeGate) no refusal here resets a producer
// (TestIdempotentProducerResetsAsFranzGo's unclean elections do), and
// nothing fails a producer id, so none bumps its epoch:
// TestNoOutOfOrderFailureFromStaleMetadata's seed does.
func TestIdempotentPipelineRetriesBehindAnUnresolvedBatch(t *testing.T) {
	p := QuietProfile()
	p.IdempotentProducers, p.IdempotentPipeline, p.Partitions, p.ProduceEveryMs = 2, 5, 3, 30
	p.DropP, p.ShutdownEveryMs = 0.02, 12_000
	var total Stats
	for seed := uint64(1); seed <= 6; seed++ {
		// Even seeds bump the epoch in the client where odd ones ask
		// for a new producer id.
		p.IdempotentEpochBump = seed%2 == 0
		s := mustPlayStats(t, &p, seed, 60_000, 60)
		t.Logf("seed %d: %d sends ok; %d batches pipelined, %d refused behind an unresolved batch and retried, %d of them appended; %d producer resets; %d epochs bumped",
			seed, s.SendsOK, s.IdempotentBatchesPipelined, s.IdempotentBatchesRefusedRetried, s.IdempotentBatchesRetriedOK, s.IdempotentResets, s.IdempotentEpochBumps)
		total.IdempotentEpochBumps += s.IdempotentEpochBumps
		total.SendsOK += s.SendsOK
		total.IdempotentBatchesPipelined += s.IdempotentBatchesPipelined
		total.IdempotentBatchesRefusedRetried += s.IdempotentBatchesRefusedRetried
		total.IdempotentBatchesRetriedOK += s.IdempotentBatchesRetriedOK
		total.IdempotentResets += s.IdempotentResets
	}
	if total.IdempotentBatchesPipelined < 100 || total.IdempotentBatchesRefusedRetried == 0 || total.IdempotentBatchesRetriedOK == 0 || total.SendsOK < 1000 {
		t.Errorf("too little happened: %d sends ok, %d batches pipelined, %d refused and retried, %d of them appended",
			total.SendsOK, total.IdempotentBatchesPipelined, total.IdempotentBatchesRefusedRetried, total.IdempotentBatchesRetriedOK)
	}
	if total.IdempotentResets != 0 {
		t.Errorf("%d producers reset by a refusal for their producer with no log losing batches and no deposed leader", total.IdempotentResets)
	}
}
