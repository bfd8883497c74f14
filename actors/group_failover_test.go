package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/groups"
)

// TestGroupCoordinatorFailover: on three nodes, with __consumer_offsets
// replicated three times, the node leading the group's offsets partition
// (its coordinator) is stopped as if killed. The group re-forms on the new
// coordinator, a consumer of it resumes from the offsets committed before
// the kill, and nothing committed is lost: the group's committed offsets,
// read from a surviving node, are the ones committed before.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Groups.OffsetsTopicPartitions = 3
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 180*time.Second)
	const topic, group = "orders", "app"
	if _, err := c.admin(active).CreateTopic(ctx, 2, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic(topic, 2)
	c.waitISRFull(active, topic, 2)
	seeds := c.seedAddrs()
	produce := func(from, count int) {
		cl := newClient(t, c.node(active), kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		defer cl.Close()
		for i := from; i < from+count; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 40)

	consumer := func() *kgo.Client {
		return newClient(t, c.node(active), kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	}
	first := consumer()
	recs := consumeGroup(t, ctx, first, 40)
	if err := first.CommitRecords(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	committed, err := c.admin(active).FetchOffsets(ctx, group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets before the kill: %v %v", err, committed.Error())
	}
	if n := len(committed.Offsets()[topic]); n != 2 {
		t.Fatalf("%d partitions committed before the kill, want 2", n)
	}
	first.Close()

	// The coordinator: the leader of the group's offsets partition.
	c.waitISRFull(active, groups.OffsetsTopic, 3)
	offsets, _ := c.node(active).routes.load().image.Topic(groups.OffsetsTopic)
	victim := int(offsets.Partitions[groups.PartitionFor(group, 3)].Leader - 1)
	t.Logf("killing node %d, the coordinator of group %s", victim+1, group)
	c.stop(victim, false)
	if victim == active {
		active = c.activeController()
	}
	// The new coordinator has every committed offset.
	waitFor(t, 60*time.Second, "the group's offsets from the new coordinator", func() bool {
		got, err := c.admin(active).FetchOffsets(ctx, group)
		if err != nil || got.Error() != nil {
			return false
		}
		for topic, ps := range committed.Offsets() {
			for p, o := range ps {
				if g, ok := got.Lookup(topic, p); !ok || g.At != o.At {
					return false
				}
			}
		}
		return true
	})
	// The group re-forms and resumes after the committed offsets: it reads
	// exactly the records produced after the kill.
	produce(40, 20)
	second := consumer()
	more := consumeGroup(t, ctx, second, 20)
	for _, r := range more {
		if r.Value[0] < 40 {
			t.Errorf("record %d of %s/%d read again after the failover: the committed offset was lost", r.Value[0], r.Topic, r.Partition)
		}
	}
	if err := second.CommitRecords(ctx, more...); err != nil {
		t.Fatalf("commit on the new coordinator: %v", err)
	}
}
