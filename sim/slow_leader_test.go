package sim

import "testing"

// TestSlowLeaderAppendsHoldTheirPartitions: with the slowleader profile
// (crashes with power losses, network cuts, idempotent, transactional and
// plain producers, consumers, group members, copiers) leaders' appends on a
// slow disk complete late and the partitions' other inputs (produces, fetch
// reads, follower positions, metadata changes, verifications, markers)
// wait behind them, as in a partition actor's mailbox; the checkers find
// nothing and records keep being acknowledged.
func TestSlowLeaderAppendsHoldTheirPartitions(t *testing.T) {
	p := SlowLeaderProfile()
	var total Stats
	for seed := uint64(1); seed <= 3; seed++ {
		s := mustPlayStats(t, &p, seed, 60_000, 60)
		t.Logf("seed %d: %d sends ok (%d acks=all); %d slow leader appends (the longest %dms), %d inputs held behind them",
			seed, s.SendsOK, s.SendsAcksAllOK, s.SlowLeaderAppends, s.SlowLeaderAppendMaxMs, s.SlowLeaderInputsHeld)
		total.SendsAcksAllOK += s.SendsAcksAllOK
		total.SlowLeaderAppends += s.SlowLeaderAppends
		total.SlowLeaderInputsHeld += s.SlowLeaderInputsHeld
	}
	if total.SlowLeaderAppends < 30 || total.SlowLeaderInputsHeld < 30 || total.SendsAcksAllOK < 500 {
		t.Errorf("too little happened: %d slow leader appends, %d inputs held, %d acks=all sends ok", total.SlowLeaderAppends, total.SlowLeaderInputsHeld, total.SendsAcksAllOK)
	}
}
