package actors

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
// partitions. "idle" has a member with no partition: it has nothing to
// fetch or commit, so only its metadata refreshes tell it that its
// coordinator's node is gone (see followCoordinatorMoves).
func TestConsumerGroupCoordinatorMove(t *testing.T) {
	t.Run("graceful", func(t *testing.T) { testConsumerGroupCoordinatorMove(t, true, 2, 4) })
	t.Run("killed", func(t *testing.T) { testConsumerGroupCoordinatorMove(t, false, 2, 4) })
	t.Run("killed-idle", func(t *testing.T) { testConsumerGroupCoordinatorMove(t, false, 2, 1) })
}

// followCoordinatorMoves are the options a franz-go KIP-848 member needs to
// find its group's new coordinator when the old one's node is killed while
// the member has nothing else to ask of that node. franz-go (v1.22.3) keeps
// a group's coordinator cached until a request through its coordinator
// retry path (an offset commit) fails to dial it, or until its metadata no
// longer lists the node; the KIP-848 heartbeat and the OffsetFetch of a
// newly assigned partition dial the cached node again and again without
// dropping it. A member with no partition (nothing to commit), or one
// killed-over while fetching the offsets of partitions just assigned,
// spins on the dead node until its next metadata refresh (metadata max
// age, 5 minutes by default) and is expired by the new coordinator
// meanwhile. Kafka's brokers cannot help it either: the member talks to no
// live broker. A short metadata max age bounds the spin: the refresh drops
// the fenced node and the member asks FindCoordinator again.
var followCoordinatorMoves = []kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond), kgo.MetadataMaxAge(time.Second)}

// heartbeatAnswers counts a member's ConsumerGroupHeartbeat answers read
// from node (once set).
type heartbeatAnswers struct {
	node, answers atomic.Int32
}

func (h *heartbeatAnswers) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.ConsumerGroupHeartbeat.Int16() && err == nil && meta.NodeID == h.node.Load() {
		h.answers.Add(1)
	}
}

func testConsumerGroupCoordinatorMove(t *testing.T, graceful bool, members, partitions int) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Groups = GroupConfig{OffsetsTopicPartitions: 3, ConsumerHeartbeatIntervalMs: 100, ConsumerSessionTimeoutMs: 20000}
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 180*time.Second)
	const topic, group = "moving", "gmove"
	if _, err := c.admin(active).CreateTopic(ctx, int32(partitions), 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic(topic, int32(partitions))
	c.waitISRFull(active, topic, int32(partitions))
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
	answers := map[string]*heartbeatAnswers{}
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
		answers[name] = &heartbeatAnswers{}
		opts := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsRevoked(note("revoked")), kgo.OnPartitionsLost(note("lost")),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }), kgo.WithHooks(answers[name]),
			kgo.WithLogger(kgo.BasicLogger(clientLog, kgo.LogLevelInfo, func() string { return name + " " }))},
			followCoordinatorMoves...)
		return newClient(t, c.node(active), opts...)
	}
	names := []string{"A", "B", "C", "D"}[:members]
	clients := map[string]*kgo.Client{}
	for _, name := range names {
		clients[name] = member(name)
		startPoller(t, ctx, clients[name], &mu, seen)
	}
	before := consumerAssignments(t, ctx, c.admin(active), group, members, partitions)
	type identity struct {
		id    string
		epoch int32
	}
	was := map[string]identity{}
	for _, name := range names {
		id, epoch := clients[name].GroupMetadata()
		was[name] = identity{id, epoch}
	}
	mu.Lock()
	changes = nil // the revocations of the first rebalance
	mu.Unlock()
	// Every partition's owner has fetched its offsets and consumes: a
	// member killed-over while fetching the offsets of partitions just
	// assigned dials the dead node until a metadata refresh drops it, and
	// then ends its group session on "unknown broker" and loses its
	// partitions (franz-go v1.22.3; see followCoordinatorMoves).
	warm := newClient(t, c.node(active), kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range partitions {
		if err := warm.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint("before", i))}).FirstErr(); err != nil {
			t.Fatalf("produce before the move: %v", err)
		}
	}
	warm.Close()
	waitUntil(t, ctx, "a record of every partition consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range partitions {
			if !seen[fmt.Sprint("before", i)] {
				return false
			}
		}
		return true
	})

	// The coordinator: the leader of the group's offsets partition.
	c.waitISRFull(active, groups.OffsetsTopic, 3)
	offsets, _ := c.node(active).routes.load().image.Topic(groups.OffsetsTopic)
	victim := int(offsets.Partitions[groups.PartitionFor(group, 3)].Leader - 1)
	t.Logf("stopping node %d (graceful: %t), the coordinator of group %s (members %v)", victim+1, graceful, group, was)
	c.stop(victim, graceful)
	if victim == active {
		active = c.activeController()
	}
	// The new coordinator: the new leader of the group's offsets partition.
	waitUntil(t, ctx, "a new leader of the group's offsets partition", func() bool {
		offsets, _ := c.node(active).routes.load().image.Topic(groups.OffsetsTopic)
		leader := offsets.Partitions[groups.PartitionFor(group, 3)].Leader
		if leader <= 0 || int(leader-1) == victim {
			return false
		}
		for _, h := range answers {
			h.node.Store(leader)
		}
		return true
	})
	var live []string
	for i, s := range seeds {
		if i != victim {
			live = append(live, s)
		}
	}

	// Records produced after the move are consumed by the same members.
	producer := newClient(t, c.node(active), kgo.SeedBrokers(live...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	// Every member heartbeats the new coordinator (a loaded group is
	// Stable before any of its members is heard from).
	for _, name := range names {
		waitUntil(t, ctx, fmt.Sprintf("member %s heartbeating the new coordinator", name), func() bool { return answers[name].answers.Load() > 0 })
	}
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
	after := consumerAssignments(t, ctx, c.admin(active), group, members, partitions)
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before))) {
		t.Fatalf("members %v after the move, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
	}
	for id, set := range before {
		if fmt.Sprint(set.Sorted()) != fmt.Sprint(after[id].Sorted()) {
			t.Errorf("member %s owned %v before the move, %v after", id, set.Sorted(), after[id].Sorted())
		}
	}
	for _, name := range names {
		if id, epoch := clients[name].GroupMetadata(); id != was[name].id || epoch < was[name].epoch {
			t.Errorf("member %s is %s at epoch %d after the move, was %s at %d", name, id, epoch, was[name].id, was[name].epoch)
		}
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
