package actors

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/groups"
)

// TestConsumerGroupCoordinatorMove: franz-go's KIP-848 members of a group on
// three nodes keep their member ids and partitions when the group's
// coordinator moves (its node stops gracefully, or as if killed): the new
// coordinator loads
// the members, their epochs and assignments from __consumer_offsets, so the
// members' heartbeats go on there with no UNKNOWN_MEMBER_ID, no partition is
// revoked or lost, and consumption goes on. Before the members were written
// every member was told UNKNOWN_MEMBER_ID after the move and lost its
// partitions.
func TestConsumerGroupCoordinatorMove(t *testing.T) {
	t.Run("graceful", func(t *testing.T) { testConsumerGroupCoordinatorMove(t, true) })
	t.Run("killed", func(t *testing.T) { testConsumerGroupCoordinatorMove(t, false) })
}

func testConsumerGroupCoordinatorMove(t *testing.T, graceful bool) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Groups = GroupConfig{OffsetsTopicPartitions: 3, ConsumerHeartbeatIntervalMs: 100, ConsumerSessionTimeoutMs: 20000}
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 180*time.Second)
	const topic, group = "moving", "gmove"
	if _, err := c.admin(active).CreateTopic(ctx, 4, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic(topic, 4)
	c.waitISRFull(active, topic, 4)
	seeds := c.seedAddrs()

	var mu sync.Mutex
	seen := map[string]bool{}
	// The members' own account (kgo at info), printed if the test fails.
	clientLog := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("franz-go members' log:\n%s", clientLog.String())
		}
	})
	var changes []string // revocations and losses
	member := func(name string) *kgo.Client {
		note := func(what string) func(context.Context, *kgo.Client, map[string][]int32) {
			return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
				if len(ps) > 0 {
					mu.Lock()
					changes = append(changes, fmt.Sprintf("%s %s %v", name, what, ps))
					mu.Unlock()
				}
			}
		}
		return newClient(t, c.node(active), kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsRevoked(note("revoked")), kgo.OnPartitionsLost(note("lost")),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
			kgo.WithLogger(kgo.BasicLogger(clientLog, kgo.LogLevelInfo, func() string { return name + " " })))
	}
	a, b := member("A"), member("B")
	startPoller(t, ctx, a, &mu, seen)
	startPoller(t, ctx, b, &mu, seen)
	before := consumerAssignments(t, ctx, c.admin(active), group, 2, 4)
	idA, epochA := a.GroupMetadata()
	idB, _ := b.GroupMetadata()
	mu.Lock()
	changes = nil // the revocations of the first rebalance
	mu.Unlock()

	// The coordinator: the leader of the group's offsets partition.
	c.waitISRFull(active, groups.OffsetsTopic, 3)
	offsets, _ := c.node(active).routes.load().image.Topic(groups.OffsetsTopic)
	victim := int(offsets.Partitions[groups.PartitionFor(group, 3)].Leader - 1)
	t.Logf("stopping node %d (graceful: %t), the coordinator of group %s (members %s at epoch %d, %s)", victim+1, graceful, group, idA, epochA, idB)
	c.stop(victim, graceful)
	if victim == active {
		active = c.activeController()
	}
	var live []string
	for i, s := range seeds {
		if i != victim {
			live = append(live, s)
		}
	}

	// Records produced after the move are consumed by the same members.
	producer := newClient(t, c.node(active), kgo.SeedBrokers(live...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range 20 {
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint("after", i))}).FirstErr(); err != nil {
			t.Fatalf("produce after the move: %v", err)
		}
	}
	waitUntil(t, ctx, "the records produced after the move consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range 20 {
			if !seen[fmt.Sprint("after", i)] {
				return false
			}
		}
		return true
	})
	// The new coordinator knows both members with their partitions, and
	// has heard from them (they are Stable at its epoch).
	after := consumerAssignments(t, ctx, c.admin(active), group, 2, 4)
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before))) {
		t.Fatalf("members %v after the move, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
	}
	for id, set := range before {
		if fmt.Sprint(set.Sorted()) != fmt.Sprint(after[id].Sorted()) {
			t.Errorf("member %s owned %v before the move, %v after", id, set.Sorted(), after[id].Sorted())
		}
	}
	// A heartbeat round on the new coordinator, then the members' view.
	waitUntil(t, ctx, "members heartbeating the new coordinator", func() bool {
		d, err := c.admin(active).DescribeConsumerGroups(ctx, group)
		return err == nil && d[group].Err == nil && d[group].State == "Stable"
	})
	if id, epoch := a.GroupMetadata(); id != idA || epoch < epochA {
		t.Errorf("member A is %s at epoch %d after the move, was %s at %d", id, epoch, idA, epochA)
	}
	if id, _ := b.GroupMetadata(); id != idB {
		t.Errorf("member B is %s after the move, was %s", id, idB)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) > 0 {
		t.Fatalf("partitions revoked or lost across the coordinator move: %v", changes)
	}
}

// lockedBuffer is a bytes.Buffer that clients' goroutines can write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
