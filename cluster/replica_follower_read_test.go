package cluster

import (
	"testing"

	"gregor/logstore"
)

// A follower's fetch asks for a read marked Follower (the leader sends it
// from the file, keeping no tail for it); a consumer's is not marked.
func TestFollowerReadsAreMarked(t *testing.T) {
	r := newTestReplica(testReplicaConfig(), ReplicaState{LogEndOffset: 10, FlushedOffset: 10, HighWatermark: 10,
		Partition:    PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		LeaderEpochs: []logstore.EpochEntry{{Epoch: 0, StartOffset: 0}}})
	r.Ready()
	for _, c := range []struct {
		name     string
		follower *FollowerFetch
	}{
		{"consumer", nil},
		{"follower", &FollowerFetch{ReplicaID: 2, BrokerEpoch: -1, LastFetchedEpoch: -1}},
	} {
		r.Fetch(1, FetchPartition{FetchOffset: 5, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, Follower: c.follower}, ReadUncommitted)
		rd := r.Ready()
		if len(rd.Reads) != 1 {
			t.Fatalf("%s fetch: %d reads, want 1 (replies %+v)", c.name, len(rd.Reads), rd.FetchReplies)
		}
		if got, want := rd.Reads[0].Follower, c.follower != nil; got != want {
			t.Fatalf("%s fetch: read marked Follower %v, want %v", c.name, got, want)
		}
		r.ReadCompleted(rd.Reads[0].ID, nil, nil)
		r.Ready()
	}
}
