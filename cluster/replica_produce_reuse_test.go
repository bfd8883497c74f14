package cluster

import (
	"testing"

	"gregor/logstore"
)

// A leader alone in its ISR answers an acks=all produce as soon as it is
// appended; the queue of produces waiting for the high watermark keeps
// its array for the next (it was sliced off the front, losing capacity
// with every answer, so that each acks=all produce allocated a new one).
// A producer's list of batches being appended stays, emptied, for its
// next batch, and goes once the producer expires.
func TestReplicaProduceKeepsItsQueues(t *testing.T) {
	const now = 1_000_000_000
	r := newTestReplica(testReplicaConfig(), ReplicaState{})
	var leo int64
	for i := range 3 {
		at := Instant{WallMs: now, MonoMs: int64(i + 1)}
		id := RequestID(i + 1)
		r.Produce(id, ProduceRequest{Records: idempotentBatch(t, 2, now, 7, int32(2*i)), Acks: -1, TimeoutMs: 30_000}, at)
		rd := r.Ready()
		if len(rd.Appends) != 1 {
			t.Fatalf("produce %d: %d appends", id, len(rd.Appends))
		}
		r.AppendCompleted(id, AppendOutcome{BaseOffset: leo, LogEndOffset: leo + 2, FlushedOffset: leo + 2}, nil)
		leo += 2
		if reps := r.Ready().ProduceReplies; len(reps) != 1 || reps[0].ID != id || reps[0].ErrorCode != 0 {
			t.Fatalf("produce %d: replies %+v", id, reps)
		}
		if len(r.awaitingHW) != 0 || cap(r.awaitingHW) == 0 {
			t.Fatalf("produce %d: waiting queue len %d cap %d, want empty with its array", id, len(r.awaitingHW), cap(r.awaitingHW))
		}
		if pending, ok := r.producerAppending[7]; !ok || len(pending) != 0 || cap(pending) == 0 {
			t.Fatalf("produce %d: producer 7's appending list %v (kept %v), want empty with its array", id, pending, ok)
		}
	}
	r.expireProducers(now + r.opts.ProducerIDExpirationMs + 1)
	if _, ok := r.producerAppending[7]; ok {
		t.Fatal("the expired producer's emptied list was kept")
	}
}

// dropAnswered moves what is left to the front of the array and lets go
// of what was answered.
func TestDropAnswered(t *testing.T) {
	q := make([]pendingProduce, 3, 4)
	for i := range q {
		q[i] = pendingProduce{id: RequestID(i + 1), producer: logstore.ProducerBatchInfo{ProducerID: 5}, hasProducer: true}
	}
	kept := dropAnswered(q, 2)
	if len(kept) != 1 || kept[0].id != 3 || cap(kept) != 4 || &kept[0] != &q[0] {
		t.Fatalf("kept %+v (cap %d)", kept, cap(kept))
	}
	if q[1] != (pendingProduce{}) || q[2] != (pendingProduce{}) {
		t.Fatal("an answered produce is still held")
	}
	if again := dropAnswered(kept, 0); len(again) != 1 || again[0].id != 3 {
		t.Fatalf("dropping none: %+v", again)
	}
}

// The one-batch slices of a Ready's appends share a slab: each holds its
// own batch however many follow (appending to one never writes over the
// next), and Ready starts a new slab, so a Ready handed out keeps none of
// the replica's.
func TestOneBatchSlab(t *testing.T) {
	r := &Replica{}
	var got [][][]byte
	for i := range 40 {
		got = append(got, r.oneBatch([]byte{byte(i)}))
	}
	_ = append(got[3], []byte{99}) // must not reach got[4]
	for i, b := range got {
		if len(b) != 1 || cap(b) != 1 || len(b[0]) != 1 || b[0][0] != byte(i) {
			t.Fatalf("slice %d holds %v (cap %d)", i, b, cap(b))
		}
	}
	r.Ready()
	if r.batchSlab != nil {
		t.Fatal("Ready kept the slab")
	}
	if b := r.oneBatch([]byte{7}); &b[0] == &got[len(got)-1][0] || b[0][0] != 7 {
		t.Fatal("the next Ready's slice came from the last one's slab")
	}
}

// A Ready given back (Recycle) lends its arrays to a later Ready: a
// partition producing over and over fills the same appends and replies
// arrays and batch slabs (two of each, in turn) and allocates none anew,
// and an array given back holds nothing of what it held.
func TestRecycledReadyArraysAreReused(t *testing.T) {
	const now = 1_000_000_000
	r := newTestReplica(testReplicaConfig(), ReplicaState{})
	appendArrays, replyArrays, slabs := map[*AppendBatches]bool{}, map[*ProduceReply]bool{}, map[*[]byte]bool{}
	var leo int64
	for i := range 6 {
		at := Instant{WallMs: now, MonoMs: int64(i + 1)}
		id := RequestID(i + 1)
		r.Produce(id, ProduceRequest{Records: idempotentBatch(t, 2, now, 7, int32(2*i)), Acks: -1, TimeoutMs: 30_000}, at)
		rd := r.Ready()
		if len(rd.Appends) != 1 {
			t.Fatalf("produce %d: %d appends", id, len(rd.Appends))
		}
		appendArrays[&rd.Appends[:1][0]] = true
		slab := rd.Appends[0].Batches
		slabs[&slab[0]] = true
		r.AppendCompleted(id, AppendOutcome{BaseOffset: leo, LogEndOffset: leo + 2, FlushedOffset: leo + 2}, nil)
		leo += 2
		appends := rd.Appends
		r.Recycle(&rd)
		if appends[0].Batches != nil || appends[0].ID != 0 {
			t.Fatalf("produce %d: a recycled append still holds %+v", id, appends[0])
		}
		if slab[0] != nil {
			t.Fatalf("produce %d: a recycled slab still holds its batch", id)
		}
		rd = r.Ready()
		if reps := rd.ProduceReplies; len(reps) != 1 || reps[0].ID != id || reps[0].ErrorCode != 0 {
			t.Fatalf("produce %d: replies %+v", id, reps)
		}
		replyArrays[&rd.ProduceReplies[0]] = true
		r.Recycle(&rd)
	}
	if len(appendArrays) > 2 || len(replyArrays) > 2 || len(slabs) > 2 {
		t.Fatalf("6 produces filled %d appends arrays, %d replies arrays and %d batch slabs, want at most 2 each",
			len(appendArrays), len(replyArrays), len(slabs))
	}
}
