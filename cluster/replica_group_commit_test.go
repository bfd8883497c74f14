package cluster

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// idempotentBatch is testBatch of n records from producer id at epoch 0,
// starting at sequence seq.
func idempotentBatch(t *testing.T, n int, nowMs, id int64, seq int32) []byte {
	b := testBatch(t, n, nowMs, nowMs, 0)
	binary.BigEndian.PutUint64(b[43:], uint64(id))
	binary.BigEndian.PutUint16(b[51:], 0)
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	logstore.ChecksumBatch(b)
	return b
}

// Three produces checked in one step are handed out in one Ready, the
// second following the first's sequence. When their group write fails and
// the first then fails alone, the second, of the same producer, is
// withdrawn (OUT_OF_ORDER_SEQUENCE_NUMBER, never written: it would leave a
// gap), while the third, another producer's, is written and answered; the
// producer's retry of both then appends in order.
func TestReplicaWithdrawsTheFollowersOfAFailedAppend(t *testing.T) {
	const now = 1_000_000_000
	r := newTestReplica(testReplicaConfig(), ReplicaState{})
	at := Instant{WallMs: now, MonoMs: 1}
	first, second := idempotentBatch(t, 2, now, 7, 0), idempotentBatch(t, 2, now, 7, 2)
	other := idempotentBatch(t, 3, now, 8, 0)
	r.Produce(1, ProduceRequest{Records: first, Acks: 1}, at)
	r.Produce(2, ProduceRequest{Records: second, Acks: 1}, at)
	r.Produce(3, ProduceRequest{Records: other, Acks: 1}, at)
	rd := r.Ready()
	if len(rd.Appends) != 3 || len(rd.ProduceReplies) != 0 {
		t.Fatalf("want three appends and no reply, got %d appends and replies %+v", len(rd.Appends), rd.ProduceReplies)
	}
	if r.AppendWithdrawn(1) || r.AppendWithdrawn(2) {
		t.Fatal("an append was withdrawn before any failed")
	}
	r.AppendCompleted(1, AppendOutcome{}, errors.New("disk gone"))
	if !r.AppendWithdrawn(2) {
		t.Fatal("the failed batch's follower of the same producer was not withdrawn")
	}
	if r.AppendWithdrawn(3) {
		t.Fatal("another producer's batch was withdrawn")
	}
	r.AppendCompleted(3, AppendOutcome{BaseOffset: 0, LogEndOffset: 3, FlushedOffset: 0}, nil)
	codes := map[RequestID]int16{}
	for _, rep := range r.Ready().ProduceReplies {
		codes[rep.ID] = rep.ErrorCode
	}
	want := map[RequestID]int16{1: kerr.KafkaStorageError.Code, 2: kerr.OutOfOrderSequenceNumber.Code, 3: 0}
	for id, code := range want {
		if got, ok := codes[id]; !ok || got != code {
			t.Errorf("produce %d answered %d (answered: %v), want %d", id, got, ok, code)
		}
	}
	// The producer's retries go in order from sequence 0.
	r.Produce(4, ProduceRequest{Records: idempotentBatch(t, 2, now, 7, 0), Acks: 1}, at)
	r.Produce(5, ProduceRequest{Records: idempotentBatch(t, 2, now, 7, 2), Acks: 1}, at)
	if rd := r.Ready(); len(rd.Appends) != 2 || len(rd.ProduceReplies) != 0 {
		t.Fatalf("retries: %d appends, replies %+v; want both appended", len(rd.Appends), rd.ProduceReplies)
	}
}

// Appends written together complete together: a follower's fetch parked
// at the leader wakes once, after the last, and reads up to the group's
// end; woken after the first, it would read only that batch and come back
// at once for each of the others.
func TestReplicaGroupCompletionWakesAFollowerOnce(t *testing.T) {
	const now = 1_000_000_000
	r := newTestReplica(testReplicaConfig(), ReplicaState{
		Partition:    PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		LeaderEpochs: []logstore.EpochEntry{{Epoch: 0, StartOffset: 0}},
	})
	at := Instant{WallMs: now, MonoMs: 1}
	r.Watch(1, Watch{Partition: FetchPartition{FetchOffset: 0, CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20,
		Follower: &FollowerFetch{ReplicaID: 2, FetchedAtMs: 1, BrokerEpoch: -1}}, DeadlineMs: 500, ReadOnWake: true})
	if rd := r.Ready(); len(rd.Reads) != 0 || len(rd.FetchReplies) != 0 {
		t.Fatalf("the follower's watch on an empty log was answered: %+v", rd)
	}
	r.Produce(2, ProduceRequest{Records: testBatch(t, 2, now, now, 0), Acks: 1}, at)
	r.Produce(3, ProduceRequest{Records: testBatch(t, 3, now, now, 0), Acks: 1}, at)
	if rd := r.Ready(); len(rd.Appends) != 2 {
		t.Fatalf("%d appends, want 2", len(rd.Appends))
	}
	r.AppendsCompleted([]RequestID{2, 3}, []AppendOutcome{{BaseOffset: 0, LogEndOffset: 2}, {BaseOffset: 2, LogEndOffset: 5}})
	rd := r.Ready()
	if len(rd.Reads) != 1 || rd.Reads[0].MaxOffset != 5 {
		t.Fatalf("the follower's watch woke to reads %+v, want one read up to offset 5", rd.Reads)
	}
}
