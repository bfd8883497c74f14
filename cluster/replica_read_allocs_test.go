package cluster

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A read without an error turns into no error code without allocating
// (the kerr target errors.As needs escaped, and was made on every read a
// leader completed: a follower's fetch of every partition it follows).
func TestStorageErrorCodeOfNoErrorAllocatesNothing(t *testing.T) {
	r := newTestReplica(testReplicaConfig(), ReplicaState{})
	if n := testing.AllocsPerRun(100, func() { r.storageErrorCode(nil) }); n != 0 {
		t.Fatalf("storageErrorCode(nil): %v allocations, want none", n)
	}
	if code, fatal := r.storageErrorCode(errors.Join(errors.New("read"), kerr.OffsetOutOfRange)); code != kerr.OffsetOutOfRange.Code || fatal {
		t.Fatalf("a wrapped OFFSET_OUT_OF_RANGE: code %d fatal %v", code, fatal)
	}
}

// The leader's followers come in broker id order, sorted once per change
// of the replica set, not on every high-watermark step.
func TestSortedFollowerIDsAreKeptUntilTheReplicasChange(t *testing.T) {
	l := &leaderState{followers: map[int32]*followerProgress{}}
	l.syncFollowers([]int32{3, 1, 2}, 1)
	if ids := l.sortedFollowerIDs(); !slices.Equal(ids, []int32{2, 3}) {
		t.Fatalf("followers %v, want [2 3]", ids)
	}
	if n := testing.AllocsPerRun(100, func() { l.sortedFollowerIDs() }); n != 0 {
		t.Fatalf("sortedFollowerIDs with no change: %v allocations, want none", n)
	}
	l.syncFollowers([]int32{1, 4, 2, 5}, 1)
	if ids := l.sortedFollowerIDs(); !slices.Equal(ids, []int32{2, 4, 5}) {
		t.Fatalf("followers after a reassignment %v, want [2 4 5]", ids)
	}
	l.syncFollowers([]int32{1, 6, 7, 8}, 1) // as many followers as before, other ones
	if ids := l.sortedFollowerIDs(); !slices.Equal(ids, []int32{6, 7, 8}) {
		t.Fatalf("followers after a second reassignment %v, want [6 7 8]", ids)
	}
}
