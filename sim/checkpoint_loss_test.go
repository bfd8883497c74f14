package sim

import "testing"

// The recovery profile's power losses remove or damage the recovery-point
// checkpoints of compacted partitions, so that recovery rescans logs whose
// cleaned segments end before the next one's base offset. Recovery used to
// take such a gap for a lost tail and delete the later segments, synced
// records and all: seeds 5301002, 5301006 and 5301012 failed R1 then, at
// 10.3 s, 16.2 s and 14.0 s (n4 t0/0 recovered empty, without the batch
// [29, 29] it had synced up to 57; ...).
func TestRecoveryProfileKeepsSyncedRecords(t *testing.T) {
	for _, seed := range []uint64{5301002, 5301006, 5301012} {
		p := RecoveryProfile()
		rep := Run(Options{Seed: seed, Nodes: 5, DurationMs: 60_000, Profile: &p, ProfileName: "recovery"})
		if rep.Failed() {
			t.Errorf("seed %d: %s\nreplay: %s", seed, rep.Violations[0], rep.ReplayCommand())
		}
		if rep.Stats.CheckpointsLost == 0 {
			t.Errorf("seed %d: no recovery-point checkpoint lost", seed)
		}
	}
}

func TestParsePartitionDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		want tpKey
		ok   bool
	}{
		{"t0-1", tpKey{"t0", 1}, true},
		{"__consumer_offsets-12", tpKey{"__consumer_offsets", 12}, true},
		{"my-topic-3", tpKey{"my-topic", 3}, true},
		{"t0", tpKey{}, false},
		{"-1", tpKey{}, false},
		{"t0-x", tpKey{}, false},
	} {
		got, ok := parsePartitionDir(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parsePartitionDir(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// The recovery profile's power losses of a broker-only node (a raft
// learner) take its whole metadata log half of the time: it restarts empty
// while the quorum's leader remembers what it acknowledged, and catches up
// from a snapshot with no leader change. Without cluster/quorum/lost_log.go
// etcd raft panicked on the learner at the leader's first heartbeat
// (tocommit(N) is out of range [lastIndex(0)]).
func TestLearnerRejoinsAfterLosingItsMetadataLog(t *testing.T) {
	p := RecoveryProfile()
	rep := Run(Options{Seed: 9100000, Nodes: 4, DurationMs: 60_000, Profile: &p, ProfileName: "recovery"})
	if rep.Failed() {
		t.Fatalf("%s\nreplay: %s", rep.Violations[0], rep.ReplayCommand())
	}
	if rep.Stats.MetadataLogsLost == 0 {
		t.Fatal("no metadata log lost")
	}
}
