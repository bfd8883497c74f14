package sim

import "testing"

// TestTxnPipelineRetriesBehindAnUnresolvedBatch: transactional producers
// that keep several batches in flight per partition, in a cluster whose
// leaders move (controlled shutdowns) and whose messages get
// lost, have later batches refused as out of order behind an earlier one
// (lost, or waiting for its transaction's verification at a new leader),
// retry them behind it, commit, and the checkers find nothing. Eight
// seeds: how often a seed reaches a refusal shifts with any change of
// schedule (since a stopped process closes its connections, only seeds 7
// and 8 of them reach one behind a verification).
func TestTxnPipelineRetriesBehindAnUnresolvedBatch(t *testing.T) {
	p := QuietProfile()
	p.TxnProducers, p.TxnPipeline, p.TxnAbortP, p.TxnTimeoutMs, p.Partitions, p.ReadCommitted = 2, 4, 0.1, 10_000, 3, true
	p.DropP, p.ShutdownEveryMs = 0.02, 12_000
	var total Stats
	commits := 0
	for seed := uint64(1); seed <= 8; seed++ {
		s := mustPlayStats(t, &p, seed, 60_000, 60)
		t.Logf("seed %d: %d transactions (%d committed); %d batches pipelined, %d refused behind an unresolved batch and retried, %d of them appended; %d refused behind a batch waiting for its verification",
			seed, s.Transactions, s.TxnCommits, s.TxnBatchesPipelined, s.TxnBatchesRefusedRetried, s.TxnBatchesRetriedOK, s.VerificationSeqRefusals)
		total.TxnBatchesPipelined += s.TxnBatchesPipelined
		total.TxnBatchesRefusedRetried += s.TxnBatchesRefusedRetried
		total.TxnBatchesRetriedOK += s.TxnBatchesRetriedOK
		total.VerificationSeqRefusals += s.VerificationSeqRefusals
		commits += int(s.TxnCommits)
	}
	if total.TxnBatchesPipelined == 0 || total.TxnBatchesRefusedRetried == 0 || total.TxnBatchesRetriedOK == 0 || total.VerificationSeqRefusals == 0 || commits < 10 {
		t.Errorf("too little happened: %d batches pipelined, %d refused and retried, %d of them appended, %d refused behind a verification, %d commits",
			total.TxnBatchesPipelined, total.TxnBatchesRefusedRetried, total.TxnBatchesRetriedOK, total.VerificationSeqRefusals, commits)
	}
}

// TestTxnPipelineEndsATransactionOnce: transactions whose deadline passes
// while their batches are answered slowly (a short transaction timeout on
// a slow network) send a batch from an earlier batch's answer after the
// deadline, which fails at once; the transaction still ends once (the
// harness check H5), where it was aborted twice: the second EndTxn chain
// ended the producer's next transaction's turn, two transactions then ran
// at once on one producer id and epoch, and one's commit exposed the
// other's aborted records (Q5, swarm seed 1682).
func TestTxnPipelineEndsATransactionOnce(t *testing.T) {
	p := QuietProfile()
	p.TxnProducers, p.TxnPipeline, p.TxnAbortP, p.TxnTimeoutMs, p.Partitions, p.ReadCommitted = 2, 5, 0.1, 1000, 3, true
	p.MeanDelayMs, p.DropP = 80, 0.02
	aborts := 0
	for seed := uint64(1); seed <= 4; seed++ {
		aborts += int(mustPlayStats(t, &p, seed, 30_000, 40).TxnAborts)
	}
	if aborts < 5 {
		t.Errorf("only %d transactions aborted", aborts)
	}
}
