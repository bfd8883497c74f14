package sim

import (
	"strings"
	"testing"
)

// TestSlowLeaderAppendsHoldTheirPartitions: with the slowleader profile
// (crashes with power losses, network cuts, idempotent, transactional and
// plain producers, consumers, group members, copiers) leaders' appends on a
// slow disk complete late and the partitions' other inputs (produces, fetch
// reads, follower positions, metadata changes, verifications, markers)
// wait behind them, as in a partition actor's mailbox; the checkers find
// nothing and records keep being acknowledged. Fetch reads a view would
// answer and OffsetForLeaderEpoch partitions (nodes 2 and 3 ask it before
// they fetch) wait too: a busy partition's view is not current
// (actors/fetch_board.go), and the actor takes OffsetForLeaderEpoch from
// its mailbox.
func TestSlowLeaderAppendsHoldTheirPartitions(t *testing.T) {
	p := SlowLeaderProfile()
	var total Stats
	for seed := uint64(1); seed <= 3; seed++ {
		var timeline strings.Builder
		rep := playTxnWorld(Options{Seed: seed, DurationMs: 60_000, Profile: &p, Timeline: &timeline, AskEpochFirst: []int32{2, 3}}).report()
		if rep.Failed() {
			t.Fatalf("seed %d: %v\n%s", seed, rep.Violations[0], tail(timeline.String(), 60))
		}
		s := rep.Stats
		t.Logf("seed %d: %d sends ok (%d acks=all); %d slow leader appends (the longest %dms), %d inputs held behind them (%d fetch reads, %d OffsetForLeaderEpoch partitions)",
			seed, s.SendsOK, s.SendsAcksAllOK, s.SlowLeaderAppends, s.SlowLeaderAppendMaxMs, s.SlowLeaderInputsHeld, s.SlowLeaderReadsHeld, s.SlowLeaderEpochAsksHeld)
		total.SendsAcksAllOK += s.SendsAcksAllOK
		total.SlowLeaderAppends += s.SlowLeaderAppends
		total.SlowLeaderInputsHeld += s.SlowLeaderInputsHeld
		total.SlowLeaderReadsHeld += s.SlowLeaderReadsHeld
		total.SlowLeaderEpochAsksHeld += s.SlowLeaderEpochAsksHeld
	}
	if total.SlowLeaderAppends < 30 || total.SlowLeaderInputsHeld < 30 || total.SendsAcksAllOK < 500 || total.SlowLeaderReadsHeld == 0 || total.SlowLeaderEpochAsksHeld == 0 {
		t.Errorf("too little happened: %d slow leader appends, %d inputs held (%d fetch reads, %d OffsetForLeaderEpoch partitions), %d acks=all sends ok",
			total.SlowLeaderAppends, total.SlowLeaderInputsHeld, total.SlowLeaderReadsHeld, total.SlowLeaderEpochAsksHeld, total.SendsAcksAllOK)
	}
}
