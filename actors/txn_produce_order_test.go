package actors

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnProduceV12 is a Produce v12 (KIP-890 part 2) of producer tp with one
// batch per partition of topic, acks=all.
func txnProduceV12(tp txnProducer, topic string, batches ...[]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(12)
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(tp.id), -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p, batch := range batches {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(p), batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// pipelineProduces writes reqs on one connection back to back, before any
// answer, and returns each partition's error codes, request by request.
func pipelineProduces(t *testing.T, n *Node, reqs ...*kmsg.ProduceRequest) [][]int16 {
	t.Helper()
	conn, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipelined-order"))
	var out []byte
	for i, req := range reqs {
		// AppendRequest writes the frame's length at the start of the
		// slice it is given: each frame is formatted on its own.
		out = append(out, fmtr.AppendRequest(nil, req, int32(i+1))...)
	}
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	codes := make([][]int16, len(reqs))
	for i, req := range reqs {
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(conn, body); err != nil {
			t.Fatal(err)
		}
		if got := int32(binary.BigEndian.Uint32(body)); got != int32(i+1) {
			t.Fatalf("correlation id %d, want %d", got, i+1)
		}
		// A flexible response header: the correlation id, then its tagged
		// fields (none: one zero byte).
		if body[4] != 0 {
			t.Fatalf("answer %d: response header with tagged fields", i+1)
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.SetVersion(req.Version)
		if err := resp.ReadFrom(body[5:]); err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics[0].Partitions {
			codes[i] = append(codes[i], p.ErrorCode)
		}
	}
	return codes
}

// A pipelined transactional produce that cannot add its partitions in one
// ask (here: one of its batches is no transactional batch, so the request
// is not one producer's) must still reach its partitions after the
// produce before it, whose one ask is in flight. Before, it went straight
// to them, asked for itself, got ahead and was refused
// OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestTxnProduceDoesNotOvertakeAnAddInFlight(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "no-overtake"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "no-overtake-producer")
	if err != nil {
		t.Fatal(err)
	}
	first := txnProduceV12(p, "no-overtake", txnRecordBatch(p.pid, p.epoch, 0, 2), txnRecordBatch(p.pid, p.epoch, 0, 2))
	// Partition 1's batch is malformed: the request takes the partitions'
	// own verification path.
	second := txnProduceV12(p, "no-overtake", txnRecordBatch(p.pid, p.epoch, 2, 2), nil)
	codes := pipelineProduces(t, n, first, second)
	if codes[0][0] != 0 || codes[0][1] != 0 {
		t.Fatalf("first produce: codes %v (the second overtook it?)", codes[0])
	}
	if codes[1][0] != 0 {
		t.Fatalf("second produce to partition 0: %s, want it appended after the first", kerr.ErrorForCode(codes[1][0]))
	}
	if codes[1][1] == 0 {
		t.Fatal("second produce's malformed batch appended")
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = p.id, p.pid, p.epoch, true
	if resp, err := end.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.EndTxn), 5)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, resp)
	}
	got := readValues(ctx, t, n, "no-overtake", kgo.ReadCommitted(), 6)
	slices.Sort(got)
	if want := []string{"seq-0", "seq-0", "seq-1", "seq-1", "seq-2", "seq-3"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed read %v, want %v", got, want)
	}
}
