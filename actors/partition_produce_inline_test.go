package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

// A small Produce to several partitions appends every partition's batch
// on the reader of its connection (runProduces), not only the last one's:
// each batch handed to a worker woke a goroutine for a short append.
func TestSmallProduceRunsOnItsReader(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	const partitions, produces = 4, 20
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, partitions, 1, nil, "spread"); err != nil {
		t.Fatal(err)
	}
	boards := make([]*fetchBoard, partitions)
	waitFor(t, 10*time.Second, "the partitions' fetch boards", func() bool {
		rt := n.routes.load()
		for p := range boards {
			if boards[p] = n.fetchBoards.of(rt.partition("spread", int32(p))); boards[p] == nil {
				return false
			}
		}
		return true
	})
	var before int64
	for _, b := range boards {
		before += b.handedOff.Load()
	}
	for range produces {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, 1, 10_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "spread"
		for p := range int32(partitions) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, idempotentRecordBatch(-1, -1, -1, 2)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		answered := make(chan *kmsg.ProduceResponse, 1)
		n.router.produce(&netio.Request{}, req, func(resp kmsg.Response) { answered <- resp.(*kmsg.ProduceResponse) })
		select {
		case resp := <-answered:
			for _, rp := range resp.Topics[0].Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("spread-%d: error %d", rp.Partition, rp.ErrorCode)
				}
			}
		case <-ctx.Done():
			t.Fatal("produce never answered")
		}
	}
	var got int64
	for _, b := range boards {
		got += b.handedOff.Load()
	}
	got -= before
	t.Logf("%d hand-offs for %d produces to %d partitions", got, produces, partitions)
	// A message that reaches a partition while it runs is handed off
	// after it: a few. Every partition but the last on a worker cost
	// partitions-1 per produce.
	if limit := int64(produces / 2); got > limit {
		t.Fatalf("%d hand-offs to workers for %d produces to %d partitions, want at most %d", got, produces, partitions, limit)
	}
}
