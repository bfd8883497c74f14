package actors

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// start848Node starts a node whose KIP-848 members heartbeat often.
func start848Node(t *testing.T) *Node {
	t.Helper()
	return startTestNode(t, t.TempDir(), func(c *Config) {
		c.Groups = GroupConfig{OffsetsTopicPartitions: 3, ConsumerHeartbeatIntervalMs: 100, ConsumerSessionTimeoutMs: 3000}
	})
}

// groupPoller polls a group consumer in the background into seen.
type groupPoller struct {
	cl   *kgo.Client
	mu   *sync.Mutex
	seen map[string]bool
	stop chan struct{}
	done chan struct{}
}

func startPoller(t *testing.T, ctx context.Context, cl *kgo.Client, mu *sync.Mutex, seen map[string]bool) *groupPoller {
	p := &groupPoller{cl: cl, mu: mu, seen: seen, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			fs := cl.PollFetches(pctx)
			cancel()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
			mu.Unlock()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *groupPoller) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	<-p.done
	p.cl.Close()
}

// consumerAssignments describes a consumer group until it is stable with
// members members owning partitions partitions, and returns the
// assignment of each member.
func consumerAssignments(t *testing.T, ctx context.Context, adm *kadm.Client, group string, members, partitions int) map[string]kadm.TopicsSet {
	t.Helper()
	var out map[string]kadm.TopicsSet
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last described: %s", last)
		}
	}()
	waitUntil(t, ctx, fmt.Sprintf("consumer group %s stable with %d members and %d partitions", group, members, partitions), func() bool {
		described, err := adm.DescribeConsumerGroups(ctx, group)
		if err != nil {
			return false
		}
		d := described[group]
		last = fmt.Sprintf("%+v", d)
		if d.Err != nil || d.State != "Stable" || len(d.Members) != members {
			return false
		}
		out = map[string]kadm.TopicsSet{}
		total := 0
		for _, m := range d.Members {
			out[m.MemberID] = m.Assignment
			for _, ps := range m.Assignment {
				total += len(ps)
			}
		}
		return total == partitions
	})
	return out
}

// newPartitionsSoon lets a franz-go member refresh its metadata 100 ms after
// the last refresh, not 5 s (MetadataMinAge): assigned a partition its
// metadata does not know yet (the topic grew), it fetches it at once
// instead of 5 s later.
var newPartitionsSoon = kgo.MetadataMinAge(100 * time.Millisecond)

// franz-go's KIP-848 consumer: the assignment is computed here, members
// share the partitions, every record is read, and the group follows a
// topic that grows.
func TestConsumerGroupProtocol(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, "next-gen"); err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "next-gen", 0, 300)
	var mu sync.Mutex
	seen := map[string]bool{}
	member := func() *kgo.Client {
		return newClient(t, n, kgo.ConsumerGroup("g848"), kgo.ConsumeTopics("next-gen"), kgo.ServerSideBalancer(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), newPartitionsSoon)
	}
	a := startPoller(t, ctx, member(), &mu, seen)
	consumerAssignments(t, ctx, adm, "g848", 1, 6)
	startPoller(t, ctx, member(), &mu, seen)
	assigned := consumerAssignments(t, ctx, adm, "g848", 2, 6)
	for m, ts := range assigned {
		if len(ts["next-gen"]) != 3 {
			t.Errorf("member %s owns %v, want 3 partitions", m, ts)
		}
	}
	waitUntil(t, ctx, "every record read", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 300
	})
	// The topic grows: the group assigns the new partitions by itself.
	if _, err := adm.CreatePartitions(ctx, 2, "next-gen"); err != nil {
		t.Fatal(err)
	}
	consumerAssignments(t, ctx, adm, "g848", 2, 8)
	produceN(t, ctx, n, "next-gen", 300, 100)
	waitUntil(t, ctx, "records of the new partitions read", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 400
	})
	// A member leaves: the other owns everything.
	a.close()
	consumerAssignments(t, ctx, adm, "g848", 1, 8)
	described, err := adm.DescribeConsumerGroups(ctx, "g848")
	if err != nil || described["g848"].AssignorName != "uniform" {
		t.Fatalf("described %+v %v", described["g848"], err)
	}
}

// A KIP-848 member subscribed by regular expression gets the topics that
// match, including one created later.
func TestConsumerGroupRegexSubscription(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	for _, topic := range []string{"rx-a", "rx-b", "other"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	produceN(t, ctx, n, "rx-a", 0, 10)
	produceN(t, ctx, n, "other", 100, 10)
	var mu sync.Mutex
	seen := map[string]bool{}
	startPoller(t, ctx, newClient(t, n, kgo.ConsumerGroup("g-rx"), kgo.ConsumeRegex(), kgo.ConsumeTopics("rx-.*"),
		kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), &mu, seen)
	consumerAssignments(t, ctx, adm, "g-rx", 1, 4)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "rx-c"); err != nil {
		t.Fatal(err)
	}
	consumerAssignments(t, ctx, adm, "g-rx", 1, 5)
	produceN(t, ctx, n, "rx-c", 200, 10)
	waitUntil(t, ctx, "records of rx-a and the new rx-c read", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 20
	})
	mu.Lock()
	defer mu.Unlock()
	for v := range seen {
		var i int
		fmt.Sscanf(v, "v%d", &i)
		if i >= 100 && i < 200 {
			t.Fatalf("read %s of topic other, which the regex does not match", v)
		}
	}
}
