package actors

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/netio"
)

// TestProducesWaitingTogetherFailAlone sends seven produces to one
// partition while its actor is busy: they wait in one batch and go to the
// log in one append. One batch is larger than segment.bytes, which fails
// that append; then each is appended on its own, so the large one fails
// alone (RECORD_LIST_TOO_LARGE), the next batch of its producer is
// withdrawn (OUT_OF_ORDER_SEQUENCE_NUMBER: written, it would leave a gap
// in the producer's sequence), and every other produce is appended and
// answered with its own offset, in the order sent. A second group, with
// no large batch, is written together and answered likewise.
func TestProducesWaitingTogetherFailAlone(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, t.TempDir(), nil)
	const topic = "produces-together"
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1024")}, topic); err != nil {
		t.Fatal(err)
	}
	partition := n.routes.load().partition(topic, 0)
	if partition == nil {
		t.Fatal("no partition actor routed for the topic")
	}
	type sent struct {
		batch    []byte
		code     int16
		base     int64
		answered chan kmsg.ProduceResponseTopicPartition
	}
	large := idempotentRecordBatch(200, 0, 0, 200)
	if len(large) <= 1024 {
		t.Fatalf("the large batch has %d bytes, not more than segment.bytes", len(large))
	}
	groups := [][]*sent{{
		{batch: idempotentRecordBatch(100, 0, 0, 3), base: 0},
		{batch: large, code: kerr.RecordListTooLarge.Code, base: -1},
		{batch: idempotentRecordBatch(100, 0, 3, 3), base: 3},
		{batch: idempotentRecordBatch(200, 0, 200, 2), code: kerr.OutOfOrderSequenceNumber.Code, base: -1},
		{batch: idempotentRecordBatch(300, 0, 0, 2), base: 6},
		{batch: idempotentRecordBatch(100, 0, 6, 1), base: 8},
		{batch: idempotentRecordBatch(-1, -1, -1, 4), base: 9},
	}, {
		{batch: idempotentRecordBatch(200, 0, 0, 2), base: 13},
		{batch: idempotentRecordBatch(100, 0, 7, 2), base: 15},
		{batch: idempotentRecordBatch(200, 0, 2, 5), base: 17},
	}}
	for g, group := range groups {
		release := holdPartitionActor(ctx, t, n, partition)
		for _, s := range group {
			s.answered = make(chan kmsg.ProduceResponseTopicPartition, 1)
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10_000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = s.batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			answered := s.answered
			n.router.produce(&netio.Request{}, req, func(resp kmsg.Response) {
				answered <- resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
			})
		}
		q := &n.produceQueues
		q.mu.Lock()
		var queued int
		if b := q.open[partition.Id]; b != nil {
			queued = len(b.msgs)
		}
		q.mu.Unlock()
		release()
		if queued != len(group) {
			t.Errorf("group %d: %d produces wait in the partition's batch, want all %d", g, queued, len(group))
		}
		for i, s := range group {
			select {
			case rp := <-s.answered:
				if rp.ErrorCode != s.code || rp.BaseOffset != s.base {
					t.Errorf("group %d produce %d: error %d base offset %d, want error %d base offset %d", g, i, rp.ErrorCode, rp.BaseOffset, s.code, s.base)
				}
			case <-ctx.Done():
				t.Fatalf("group %d produce %d never answered", g, i)
			}
		}
	}
	if c, u := endOffsets(ctx, t, n, topic); c != 22 || u != 22 {
		t.Fatalf("end offsets committed %d uncommitted %d, want 22", c, u)
	}
	got := readIsolated(ctx, t, n, topic, false, 22)
	want := []string{"seq-0", "seq-1", "seq-2", "seq-3", "seq-4", "seq-5", "seq-0", "seq-1", "seq-6"}
	for i, v := range want {
		if got[i] != v {
			t.Fatalf("record %d reads %q, want %q (all: %v)", i, got[i], v, got)
		}
	}
	if q := &n.produceQueues; len(q.open) != 0 {
		t.Errorf("%d batches left open after every produce was answered", len(q.open))
	}
}

// A partition actor finds the produces of a batch by request id (their
// ids increase in the order they were handed to the core) and forgets
// them all at once, keeping its array.
func TestProducingSet(t *testing.T) {
	var s producingSet
	msgs := []*producePartition{{acks: 1}, {acks: -1}, {acks: 0}}
	for i, m := range msgs {
		s.add(cluster.RequestID(10*(i+1)), m)
	}
	for i, m := range msgs {
		if got := s.get(cluster.RequestID(10 * (i + 1))); got != m {
			t.Fatalf("id %d: %p, want %p", 10*(i+1), got, m)
		}
	}
	if got := s.get(15); got != nil {
		t.Fatalf("id 15: %p, want none", got)
	}
	array := &s.all[0]
	s.reset()
	if len(s.all) != 0 || s.get(10) != nil {
		t.Fatalf("after reset: %+v", s.all)
	}
	s.add(40, msgs[0])
	if &s.all[0] != array || s.get(40) != msgs[0] {
		t.Fatal("the array was not kept")
	}
}

// TestTakeBatchYieldsFirst: the partition actor yields before it takes its
// batch, so a produce sent meanwhile (here, by the yield itself) joins that
// batch rather than waiting for one of its own.
func TestTakeBatchYieldsFirst(t *testing.T) {
	q := &produceQueues{}
	pid := &actor.PID{Id: "partition"}
	b := &produceBatch{q: q, pid: pid}
	b.msgs = append(b.first[:0], &producePartition{})
	q.open = map[string]*produceBatch{pid.Id: b}
	root := actor.NewActorSystem().Root
	defer func(yield func()) { yieldBeforeTake = yield }(yieldBeforeTake)
	yieldBeforeTake = func() { q.send(root, pid, &producePartition{}) }
	if msgs := (&partitionActor{}).takeBatch(b); len(msgs) != 2 {
		t.Fatalf("took %d messages, want 2 (the produce sent during the yield joined)", len(msgs))
	}
}

// TestSmallBatchesYieldOnlyForSeveralProducers: a partition yields before
// it takes a batch of a small Produce run on its reader only while its
// produces come from several producers (by the producer id of their
// batches or markers); every other batch it yields for.
func TestSmallBatchesYieldOnlyForSeveralProducers(t *testing.T) {
	q := &produceQueues{}
	pid := &actor.PID{Id: "partition"}
	a := &partitionActor{}
	var yields int
	defer func(yield func()) { yieldBeforeTake = yield }(yieldBeforeTake)
	yieldBeforeTake = func() { yields++ }
	batchOf := func(producer int64) []byte {
		records := make([]byte, 61) // a RecordBatch v2 header
		binary.BigEndian.PutUint64(records[43:], uint64(producer))
		return records
	}
	for i, step := range []struct {
		small     bool
		produces  []*producePartition
		wantYield bool
	}{
		{small: true, produces: []*producePartition{{records: batchOf(7)}}, wantYield: false},
		{small: true, produces: []*producePartition{{records: batchOf(7)}, {marker: &cluster.TxnMarker{ProducerID: 7}}}, wantYield: false},
		{small: true, produces: []*producePartition{{records: batchOf(7)}, {records: batchOf(8)}}, wantYield: false}, // one producer so far
		{small: true, produces: []*producePartition{{records: batchOf(8)}}, wantYield: true},                         // 7 and 8 in the last batch
		{small: true, produces: []*producePartition{{records: batchOf(8)}}, wantYield: false},
		{small: true, produces: []*producePartition{{records: batchOf(9)}}, wantYield: false}, // a new producer after 8
		{small: true, produces: []*producePartition{{records: batchOf(9)}}, wantYield: true},
		{small: true, produces: []*producePartition{{records: []byte("short")}, {records: batchOf(-1)}}, wantYield: false},
		{small: true, produces: []*producePartition{{records: batchOf(-1)}}, wantYield: true}, // 9, then no id
		{small: true, produces: []*producePartition{{records: batchOf(-1)}}, wantYield: false},
		{small: false, produces: []*producePartition{{records: batchOf(-1)}}, wantYield: true}, // handed to a worker, or a large Produce's
	} {
		b := &produceBatch{q: q, pid: pid}
		if step.small {
			b.deferTo = &inlineRuns{}
		}
		b.msgs = append(b.first[:0], &txnPartitionAdded{}) // not a produce: it does not count
		for _, m := range step.produces {
			b.msgs = append(b.msgs, m)
		}
		before := yields
		a.takeBatch(b)
		if got := yields > before; got != step.wantYield {
			t.Fatalf("step %d: yielded %v, want %v", i, got, step.wantYield)
		}
	}
}
