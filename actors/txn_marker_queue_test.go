package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMarkersForOnePartitionGoAsOneBatch ends the transactions of eight
// producers on one partition with one WriteTxnMarkers request while the
// partition actor is busy: the eight markers wait in one batch (one
// message, one append) instead of a message each, and once the actor is
// free each is answered, the aborted transactions' records are skipped by
// read_committed readers and the committed ones read, as when each marker
// was appended on its own.
func TestMarkersForOnePartitionGoAsOneBatch(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, t.TempDir(), nil)
	n.txns.unverified.Store(true) // markers written by hand, no coordinator
	const topic, producers = "markers-together", 8
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	pidOf := func(i int) int64 { return 7000 + int64(i) }
	for i := range producers {
		if rp := produceTxn(ctx, t, n, topic, txnRecordBatch(pidOf(i), 0, 0, 2)); rp.ErrorCode != 0 || rp.BaseOffset != int64(2*i) {
			t.Fatalf("producer %d: transactional produce: %+v", i, rp)
		}
	}
	partition := n.routes.load().partition(topic, 0)
	if partition == nil {
		t.Fatal("no partition actor routed for the topic")
	}
	// Hold the actor inside a message until the markers are queued.
	release := holdPartitionActor(ctx, t, n, partition)
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 2
	for i := range producers {
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pidOf(i), 0, i%2 == 0, 1
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
	}
	answered := make(chan *kmsg.WriteTxnMarkersResponse, 1)
	n.router.writeTxnMarkers(req, func(resp kmsg.Response) { answered <- resp.(*kmsg.WriteTxnMarkersResponse) })
	q := &n.produceQueues
	q.mu.Lock()
	var queued int
	if b := q.open[partition.Id]; b != nil {
		queued = len(b.msgs)
	}
	q.mu.Unlock()
	release()
	if queued != producers {
		t.Errorf("%d markers wait in the partition's batch, want all %d", queued, producers)
	}
	var resp *kmsg.WriteTxnMarkersResponse
	select {
	case resp = <-answered:
	case <-ctx.Done():
		t.Fatal("WriteTxnMarkers never answered")
	}
	for _, m := range resp.Markers {
		if code := m.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Errorf("marker of producer %d: error %d", m.ProducerID, code)
		}
	}
	if c, u := endOffsets(ctx, t, n, topic); c != 3*producers || u != 3*producers {
		t.Fatalf("after the markers: end offsets committed %d uncommitted %d, want %d", c, u, 3*producers)
	}
	var want []string
	for i := 0; i < producers; i += 2 {
		want = append(want, "seq-0", "seq-1")
	}
	got := readIsolated(ctx, t, n, topic, true, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed read %v, want %v", got, want)
	}
	if got := readIsolated(ctx, t, n, topic, false, 2*producers); len(got) != 2*producers {
		t.Fatalf("read_uncommitted read %d records, want %d", len(got), 2*producers)
	}
	if q.mu.Lock(); len(q.open) != 0 {
		t.Errorf("%d batches left open after every marker was written", len(q.open))
	}
	q.mu.Unlock()
}

// TestMarkerAndProduceGoAsOneBatch ends one producer's transaction while
// another producer's produce reaches the busy partition: the marker and the
// produce wait in one batch (one message, one append) instead of one each,
// keep the order they were sent in (the marker first), and once the actor
// is free both are answered as if appended one after the other: the
// committed transaction is read by read_committed readers, the open one
// holds the last stable offset at its first record.
func TestMarkerAndProduceGoAsOneBatch(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, t.TempDir(), nil)
	n.txns.unverified.Store(true) // markers written by hand, no coordinator
	const topic = "marker-and-produce"
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if rp := produceTxn(ctx, t, n, topic, txnRecordBatch(7000, 0, 0, 2)); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("first transactional produce: %+v", rp)
	}
	partition := n.routes.load().partition(topic, 0)
	if partition == nil {
		t.Fatal("no partition actor routed for the topic")
	}
	release := holdPartitionActor(ctx, t, n, partition)
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 2
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 7000, 0, true, 1
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	marked := make(chan *kmsg.WriteTxnMarkersResponse, 1)
	n.router.writeTxnMarkers(req, func(resp kmsg.Response) { marked <- resp.(*kmsg.WriteTxnMarkersResponse) })
	produced := make(chan kmsg.ProduceResponseTopicPartition, 1)
	cl := pinnedClient(t, n, int16(kmsg.Produce), 12)
	go func() {
		preq := kmsg.NewPtrProduceRequest()
		txnID := "txn-test-2"
		preq.TransactionID, preq.Acks, preq.TimeoutMillis = &txnID, -1, 10_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = txnRecordBatch(7001, 0, 0, 2)
		rt.Partitions = append(rt.Partitions, rp)
		preq.Topics = append(preq.Topics, rt)
		resp, err := preq.RequestWith(ctx, cl)
		if err != nil {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.ErrorCode = -1
			produced <- rp
			return
		}
		produced <- resp.Topics[0].Partitions[0]
	}()
	q := &n.produceQueues
	var kinds []string
	for deadline := time.Now().Add(10 * time.Second); len(kinds) < 2 && time.Now().Before(deadline); {
		kinds = kinds[:0]
		q.mu.Lock()
		if b := q.open[partition.Id]; b != nil {
			for _, msg := range b.msgs {
				if p, ok := msg.(*producePartition); ok && p.marker != nil {
					kinds = append(kinds, "marker")
				} else {
					kinds = append(kinds, fmt.Sprintf("%T", msg))
				}
			}
		}
		q.mu.Unlock()
		time.Sleep(time.Millisecond) // polling the queue, under a deadline
	}
	release()
	if !slices.Equal(kinds, []string{"marker", "*actors.producePartition"}) {
		t.Errorf("the partition's batch holds %v, want the marker, then the produce", kinds)
	}
	select {
	case resp := <-marked:
		if code := resp.Markers[0].Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Errorf("marker: error %d", code)
		}
	case <-ctx.Done():
		t.Fatal("WriteTxnMarkers never answered")
	}
	select {
	case rp := <-produced:
		if rp.ErrorCode != 0 || rp.BaseOffset != 3 {
			t.Errorf("the produce that waited with the marker: %+v, want offset 3 (after the marker at 2)", rp)
		}
	case <-ctx.Done():
		t.Fatal("the produce was never answered")
	}
	if c, u := endOffsets(ctx, t, n, topic); c != 3 || u != 5 {
		t.Fatalf("end offsets committed %d uncommitted %d, want 3 and 5", c, u)
	}
	if got := readIsolated(ctx, t, n, topic, true, 2); !slices.Equal(got, []string{"seq-0", "seq-1"}) {
		t.Fatalf("read_committed read %v, want the committed transaction's two records", got)
	}
}
