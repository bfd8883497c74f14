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
