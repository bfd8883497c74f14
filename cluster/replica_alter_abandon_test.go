package cluster

import (
	"testing"

	"gregor/logstore"
)

// A leader whose AlterPartition is in flight tells its shell to stop that
// call once it no longer waits for the answer: its leadership ended, or a
// newer record replaced the change. An answered call is not stopped. Before,
// the shell's call went on asking the controllers until its deadline.
func TestReplicaAbandonsAlterPartitionItNoLongerWaitsFor(t *testing.T) {
	const lagMs = 100
	leaderOf := func(t *testing.T) *Replica {
		t.Helper()
		st := ReplicaState{Partition: PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
			LeaderEpochs: []logstore.EpochEntry{{Epoch: 0, StartOffset: 0}}, LogEndOffset: 10, FlushedOffset: 10, HighWatermark: 10}
		r := NewReplica(ReplicaOptions{NodeID: 1, ReplicaLagTimeMaxMs: lagMs}, TopicSettings{Replica: testReplicaConfig()}, st, Instant{})
		_ = r.Ready()
		// Follower 2 never fetches: past the lag, the leader asks to
		// shrink the ISR to itself.
		r.Tick(Instant{WallMs: lagMs + 1, MonoMs: lagMs + 1})
		rd := r.Ready()
		if rd.AlterPartition == nil || rd.AbandonAlterPartition {
			t.Fatalf("after the lag: AlterPartition %+v, abandon %v; want a shrink asked, nothing stopped", rd.AlterPartition, rd.AbandonAlterPartition)
		}
		return r
	}
	now := Instant{WallMs: lagMs + 2, MonoMs: lagMs + 2}

	t.Run("leadership ends", func(t *testing.T) {
		r := leaderOf(t)
		r.PartitionChanged(PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1}, now)
		if rd := r.Ready(); !rd.AbandonAlterPartition {
			t.Fatalf("a follower now: the AlterPartition of its leadership is not stopped")
		}
		if rd := r.Ready(); rd.AbandonAlterPartition {
			t.Fatalf("stopped twice")
		}
	})
	t.Run("a newer record", func(t *testing.T) {
		r := leaderOf(t)
		r.PartitionChanged(PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1}, now)
		if rd := r.Ready(); !rd.AbandonAlterPartition {
			t.Fatalf("the record settled the change: its AlterPartition is not stopped")
		}
	})
	t.Run("answered", func(t *testing.T) {
		r := leaderOf(t)
		r.AlterPartitionCompleted(AlterPartitionResult{Seq: 1, LeaderEpoch: 0, PartitionEpoch: 1, ISR: []int32{1}}, now)
		r.PartitionChanged(PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2}, now)
		if rd := r.Ready(); rd.AbandonAlterPartition {
			t.Fatalf("an answered AlterPartition is stopped")
		}
	})
}
