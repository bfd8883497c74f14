package actors

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startGroupNode starts a node whose groups rebalance at once and accept
// short sessions, for tests.
func startGroupNode(t *testing.T) *Node {
	t.Helper()
	return startTestNode(t, t.TempDir(), func(c *Config) {
		c.Groups = GroupConfig{OffsetsTopicPartitions: 5, MinSessionTimeoutMs: 500}
	})
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stableAssignments describes group until it is stable with members members
// and partitions partitions of topic assigned (a cooperative rebalance
// passes through stable states with some unassigned), and returns each
// member's partitions of topic.
func stableAssignments(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, members, partitions int) map[string][]int32 {
	t.Helper()
	var out map[string][]int32
	waitUntil(t, ctx, fmt.Sprintf("group %s stable with %d members", group, members), func() bool {
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false
		}
		d := described[group]
		if d.State != "Stable" || len(d.Members) != members {
			return false
		}
		out = map[string][]int32{}
		total := 0
		for _, m := range d.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				return false
			}
			for _, tp := range a.Topics {
				if tp.Topic == topic {
					out[m.MemberID] = append(out[m.MemberID], tp.Partitions...)
					total += len(tp.Partitions)
				}
			}
		}
		return total == partitions
	})
	return out
}

// checkPartitionsOnce fails unless every partition below n is assigned to
// exactly one member.
func checkPartitionsOnce(t *testing.T, assigned map[string][]int32, n int32) {
	t.Helper()
	owner := map[int32]string{}
	for m, ps := range assigned {
		for _, p := range ps {
			if other, dup := owner[p]; dup {
				t.Fatalf("partition %d assigned to %s and %s", p, other, m)
			}
			owner[p] = m
		}
	}
	if int32(len(owner)) != n {
		t.Fatalf("%d of %d partitions assigned: %v", len(owner), n, assigned)
	}
}

// Every balancer the clients run works: three members share six
// partitions, each partition owned once, and every record is read.
func TestGroupBalancers(t *testing.T) {
	for name, balancer := range map[string]kgo.GroupBalancer{
		"range": kgo.RangeBalancer(), "roundrobin": kgo.RoundRobinBalancer(),
		"sticky": kgo.StickyBalancer(), "cooperative-sticky": kgo.CooperativeStickyBalancer(),
	} {
		t.Run(name, func(t *testing.T) {
			n := startGroupNode(t)
			ctx := testContext(t, 60*time.Second)
			adm := kadm.NewClient(newClient(t, n))
			topic, group := "bal-"+name, "g-"+name
			if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produceN(t, ctx, n, topic, 0, 300)
			var mu sync.Mutex
			seen := map[string]bool{}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for i := 0; i < 3; i++ {
				cl := newClient(t, n, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(balancer),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(100*time.Millisecond))
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
						fs := cl.PollFetches(pctx)
						cancel()
						mu.Lock()
						fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
						mu.Unlock()
					}
				}()
			}
			waitUntil(t, ctx, "every record read", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) == 300
			})
			assigned := stableAssignments(t, ctx, adm, group, topic, 3, 6)
			checkPartitionsOnce(t, assigned, 6)
			for m, ps := range assigned {
				if len(ps) != 2 {
					t.Errorf("member %s has %v", m, ps)
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}

// A member that stops heartbeating (a static member that closed: it sends
// no LeaveGroup) is expired after its session timeout, and its partitions
// move to the member left.
func TestGroupSessionTimeoutMovesPartitions(t *testing.T) {
	n := startGroupNode(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "sessions"); err != nil {
		t.Fatal(err)
	}
	member := func(instance string) *kgo.Client {
		return newClient(t, n, kgo.ConsumerGroup("sess"), kgo.ConsumeTopics("sessions"), kgo.InstanceID(instance),
			kgo.SessionTimeout(1500*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond))
	}
	a, b := member("a"), member("b")
	poll := func(cl *kgo.Client, stop chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			cl.PollFetches(pctx)
			cancel()
		}
	}
	stopA, stopB := make(chan struct{}), make(chan struct{})
	go poll(a, stopA)
	go poll(b, stopB)
	defer close(stopB)
	before := stableAssignments(t, ctx, adm, "sess", "sessions", 2, 4)
	checkPartitionsOnce(t, before, 4)
	close(stopA)
	start := time.Now()
	a.Close()
	after := stableAssignments(t, ctx, adm, "sess", "sessions", 1, 4)
	checkPartitionsOnce(t, after, 4)
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("member expired after %v, before its 1.5s session", waited)
	}
}

// A static member that restarts within its session timeout gets its
// partitions back without a rebalance: the generation does not move. (The
// members balance with range: a restarted cooperative-sticky leader in
// franz-go compares its own plan with its old assignment and may rejoin on
// purpose, against any broker.)
func TestGroupStaticMemberRestart(t *testing.T) {
	n := startGroupNode(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "static"); err != nil {
		t.Fatal(err)
	}
	member := func(instance string) *kgo.Client {
		return newClient(t, n, kgo.ConsumerGroup("static"), kgo.ConsumeTopics("static"), kgo.InstanceID(instance),
			kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(100*time.Millisecond), kgo.Balancers(kgo.RangeBalancer()))
	}
	poll := func(cl *kgo.Client, stop chan struct{}, done chan struct{}) {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			cl.PollFetches(pctx)
			cancel()
		}
	}
	a, b := member("a"), member("b")
	stopA, doneA, stopB, doneB := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	go poll(a, stopA, doneA)
	go poll(b, stopB, doneB)
	defer func() { close(stopB); <-doneB }()
	before := stableAssignments(t, ctx, adm, "static", "static", 2, 4)
	_, genBefore := b.GroupMetadata()
	idA, _ := a.GroupMetadata()
	close(stopA)
	<-doneA
	a.Close()
	a2 := member("a")
	stopA2, doneA2 := make(chan struct{}), make(chan struct{})
	go poll(a2, stopA2, doneA2)
	defer func() { close(stopA2); <-doneA2 }()
	waitUntil(t, ctx, "restarted member back in the group", func() bool {
		id, gen := a2.GroupMetadata()
		return id != "" && id != idA && gen == genBefore
	})
	after := stableAssignments(t, ctx, adm, "static", "static", 2, 4)
	if _, genAfter := b.GroupMetadata(); genAfter != genBefore {
		t.Fatalf("generation moved from %d to %d: the group rebalanced", genBefore, genAfter)
	}
	sortedParts := func(m map[string][]int32) [][]int32 {
		var out [][]int32
		for _, ps := range m {
			ps = slices.Clone(ps)
			slices.Sort(ps)
			out = append(out, ps)
		}
		sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
		return out
	}
	if fmt.Sprint(sortedParts(before)) != fmt.Sprint(sortedParts(after)) {
		t.Fatalf("assignments changed from %v to %v", before, after)
	}
}

// Committed offsets and group metadata survive a node restart: the
// coordinator reloads them from __consumer_offsets.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	edit := func(c *Config) { c.Groups = GroupConfig{OffsetsTopicPartitions: 3} }
	n := startTestNode(t, dir, edit)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "kept", 0, 40)
	cl := newClient(t, n, kgo.ConsumerGroup("keeper"), kgo.ConsumeTopics("kept"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	recs := consumeGroup(t, ctx, cl, 40)
	if err := cl.CommitRecords(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, edit)
	adm2 := kadm.NewClient(newClient(t, n2))
	var fetched kadm.OffsetResponses
	waitUntil(t, ctx, "offsets fetched after the restart", func() bool {
		var err error
		fetched, err = adm2.FetchOffsets(ctx, "keeper")
		return err == nil && fetched.Error() == nil
	})
	total := int64(0)
	fetched.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 40 {
		t.Fatalf("committed offsets after restart sum to %d, want 40: %v", total, fetched)
	}
	described, err := adm2.DescribeGroups(ctx, "keeper")
	if err != nil || described["keeper"].State != "Empty" || described["keeper"].Protocol != "" {
		t.Fatalf("described after restart: %+v %v", described["keeper"], err)
	}
}
