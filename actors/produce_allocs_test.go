//go:build !race

package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

// maxProduceAllocs bounds the allocations of one Produce of six partitions
// (acks=1, one small batch each) on a single node, the request already
// read (a request without a pooled frame, whose Retain allocates nothing:
// a connection's Produce adds one per partition). Measured: 50 before
// session 43; 31 once the partitions answered through their produceSlot
// (not a fill and a reply closure each) and a leader append's base offsets
// reused the log's array; 25 once a partition's batch slab came back with
// its Ready (Replica.Recycle); 23 once the leader hints lay in the slots.
// The margin is for the node's own background work during the runs.
const maxProduceAllocs = 25

// TestProduceAllocations counts the broker's allocations per Produce, so
// that one more per partition fails.
func TestProduceAllocations(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, t.TempDir(), nil)
	const topic, parts = "produce-allocs", 6
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p := range int32(parts) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, valueBatch(make([]byte, 100))
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	answered := make(chan *kmsg.ProduceResponse, 1)
	respond := func(resp kmsg.Response) { answered <- resp.(*kmsg.ProduceResponse) }
	produced := int64(0)
	produce := func() {
		// A produced batch comes with base offset 0; the append wrote
		// the last one's into these bytes (nothing reads them after).
		for _, p := range rt.Partitions {
			clear(p.Records[:8])
		}
		n.router.produce(&netio.Request{}, req, respond)
		var resp *kmsg.ProduceResponse
		select {
		case resp = <-answered:
		case <-ctx.Done():
			t.Fatal("produce never answered")
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.BaseOffset != produced {
				t.Fatalf("partition %d: error %d base offset %d, want 0 at %d", p.Partition, p.ErrorCode, p.BaseOffset, produced)
			}
		}
		produced++
	}
	produce() // the partitions' first appends
	got := testing.AllocsPerRun(200, produce)
	t.Logf("%.1f allocations per Produce of %d partitions", got, parts)
	if got > maxProduceAllocs {
		t.Errorf("%.1f allocations per Produce of %d partitions, want at most %d", got, parts, maxProduceAllocs)
	}
}
