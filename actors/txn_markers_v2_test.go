package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriteTxnMarkers v2 (KIP-1228), from franz-go pinned to each version: a
// transaction version 2 marker at the epoch of the producer's open
// transaction is a late marker of an earlier transaction and is refused
// with INVALID_PRODUCER_EPOCH, leaving the transaction open; a v1 marker
// (version 0) at that epoch ends it, as before; a v2 marker at a bumped
// epoch is written.
func TestWriteTxnMarkersV2RefusesLateMarker(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "late-markers"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "late-markers-producer")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.addPartition(ctx, cl, "late-markers", 0); err != nil {
		t.Fatal(err)
	}
	if code := produceTxnTo(ctx, t, n, p, "late-markers", 0, txnRecordBatch(p.pid, p.epoch, 0, 2)); code != 0 {
		t.Fatalf("transactional produce: %s", kerr.ErrorForCode(code))
	}
	marker := func(v int16, epoch int16, tv int8) int16 {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch, m.TransactionVersion = p.pid, epoch, true, 1, tv
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = "late-markers", []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.WriteTxnMarkers), v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != v {
			t.Fatalf("franz-go sent WriteTxnMarkers v%d, want v%d", resp.Version, v)
		}
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	committed := func() int64 {
		c, _ := endOffsets(ctx, t, n, "late-markers")
		return c
	}
	if code := marker(2, p.epoch, 2); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("a v2 marker at the open transaction's epoch: %s, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if got := committed(); got != 0 {
		t.Fatalf("after the refused marker the last stable offset is %d, want 0 (the transaction open)", got)
	}
	if code := marker(1, p.epoch, 2); code != 0 {
		t.Fatalf("a v1 marker (no transaction version) at that epoch: %s", kerr.ErrorForCode(code))
	}
	if got := committed(); got != 3 {
		t.Fatalf("after the v1 marker the last stable offset is %d, want 3", got)
	}
	if code := marker(2, p.epoch+1, 2); code != 0 {
		t.Fatalf("a v2 marker at the bumped epoch: %s", kerr.ErrorForCode(code))
	}
}
