package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franzGoMembers starts n franz-go group members (classic protocol,
// cooperative-sticky, heartbeating every heartbeat) of group on topic,
// polling until the test ends, and waits until the group is stable with
// all of them.
func franzGoMembers(t *testing.T, ctx context.Context, c *localCluster, adm *kadm.Client, group, topic string, n int, heartbeat time.Duration) {
	t.Helper()
	for range n {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.HeartbeatInterval(heartbeat), kgo.SessionTimeout(45*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		go func() {
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}()
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("group %s to be stable with %d members", group, n), func() bool {
		d, err := adm.DescribeGroups(ctx, group)
		return err == nil && d[group].State == "Stable" && len(d[group].Members) == n
	})
}

// drainLines are the lines of node i's log about its stop's drain.
func drainLines(c *localCluster, i int) []string {
	log, _ := os.ReadFile(c.logFile(i))
	var out []string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "shutdown_drain.go") {
			out = append(out, l)
		}
	}
	return out
}

// A graceful stop waits for the group members that talked to its
// coordinators to learn they moved (controlled.shutdown.drain.ms at most,
// 30 s here). franz-go sends a member's joins and syncs on a connection of
// their own and its heartbeats on another; once the group settled, the
// first carries nothing until the next rebalance. The stop counted
// connections and waited for that one until its bound (in a judge's
// rolling restart, every stop of a node coordinating franz-go groups took
// 5 s); it counts members now, and a member whose heartbeat was told
// NOT_COORDINATOR has learnt.
func TestGracefulStopDoesNotWaitForSettledFranzGoMembers(t *testing.T) {
	const drainMs, topic = 30000, "settled"
	c := clusterUp(t, 3, "offsets.topic.num.partitions=6", "group.initial.rebalance.delay.ms=0",
		fmt.Sprintf("controlled.shutdown.drain.ms=%d", drainMs))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	md, err := c.metadata(1)
	if err != nil {
		t.Fatal(err)
	}
	adm := c.admin(t)
	if _, err := adm.CreateTopic(ctx, 6, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	// A group coordinated by a node that is not the controller.
	var group string
	var coordinator int32
	for i := 0; group == ""; i++ {
		g := fmt.Sprintf("%s-%d", topic, i)
		found := groupCoordinator(t, ctx, adm, g)
		if found != md.ControllerID {
			group, coordinator = g, found
		}
	}
	franzGoMembers(t, ctx, c, adm, group, topic, 3, time.Second)

	pid, start := c.pid(int(coordinator)), time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for processRuns(pid) {
		if took := time.Since(start); took > drainMs*time.Millisecond/2 {
			t.Fatalf("the coordinator's node still runs %v after SIGTERM: its stop waits for franz-go members that learnt the move\n%s",
				took.Round(time.Millisecond), strings.Join(drainLines(c, int(coordinator)), "\n"))
		}
		time.Sleep(10 * time.Millisecond) // polling a process's exit; nothing to wait on
	}
	t.Logf("the coordinator's node stopped %v after SIGTERM\n%s", time.Since(start).Round(time.Millisecond),
		strings.Join(drainLines(c, int(coordinator)), "\n"))
	// The members learnt: the group is stable with all three at its new
	// coordinator (asked by a client that knows only the running nodes:
	// franz-go keeps a coordinator it cached and fails to dial).
	var live []string
	for i := 1; i <= 3; i++ {
		if i != int(coordinator) {
			live = append(live, c.addr(i))
		}
	}
	liveClient, err := kgo.NewClient(kgo.SeedBrokers(live...))
	if err != nil {
		t.Fatal(err)
	}
	defer liveClient.Close()
	liveAdm := kadm.NewClient(liveClient)
	var state string
	waitFor(t, 30*time.Second, "the group stable with its three members at its new coordinator", func() bool {
		d, err := liveAdm.DescribeGroups(ctx, group)
		state = fmt.Sprintf("%s with %d members (%v)", d[group].State, len(d[group].Members), err)
		return err == nil && d[group].State == "Stable" && len(d[group].Members) == 3
	})
	t.Logf("the group at its new coordinator: %s", state)
}

// silentMember joins group (alone) at its coordinator with raw requests,
// syncs, heartbeats once and then sends nothing, its connection open (a
// member between heartbeats; its session is 45 s).
func silentMember(t *testing.T, ctx context.Context, c *localCluster, group string, coordinator int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	join := func(memberID string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 45000, 60000
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"silent"}
		proto := kmsg.NewJoinGroupRequestProtocol()
		proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, proto)
		resp, err := req.RequestWith(ctx, cl.Broker(int(coordinator)))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var first *kmsg.JoinGroupResponse
	waitFor(t, 30*time.Second, "the coordinator of "+group+" to load", func() bool {
		first = join("")
		// Not yet loading, or loading (see joinWithID in
		// cluster_drain_test.go): a client retries both.
		return first.ErrorCode != kerr.CoordinatorLoadInProgress.Code && first.ErrorCode != kerr.NotCoordinator.Code
	})
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(first.ErrorCode))
	}
	id := first.MemberID
	joined := join(id)
	if joined.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(joined.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = group, id, joined.Generation
	assignment := kmsg.NewSyncGroupRequestGroupAssignment()
	empty := kmsg.NewConsumerMemberAssignment()
	assignment.MemberID, assignment.MemberAssignment = id, empty.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, assignment)
	if synced, err := sync.RequestWith(ctx, cl.Broker(int(coordinator))); err != nil || synced.ErrorCode != 0 {
		t.Fatalf("sync: %v %+v", err, synced)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = group, id, joined.Generation
	if beat, err := hb.RequestWith(ctx, cl.Broker(int(coordinator))); err != nil || beat.ErrorCode != 0 {
		t.Fatalf("heartbeat: %v %+v", err, beat)
	}
}

// gregor cluster down stops every node at once: a node's coordinators go
// to no active broker (the others stop too), so its members have nowhere
// to be sent, and its stop must not wait for them. Each node coordinates a
// group of two franz-go members and a group of one member that joined and
// then sends nothing until after the stop (a member between heartbeats):
// a stop that waited until each member was told NOT_COORDINATOR waited
// for that one until its bound (30 s here).
func TestClusterDownDoesNotWaitForMembersWithNowhereToGo(t *testing.T) {
	const drainMs, topic = 30000, "down"
	c := clusterUp(t, 3, "offsets.topic.num.partitions=6", "group.initial.rebalance.delay.ms=0",
		fmt.Sprintf("controlled.shutdown.drain.ms=%d", drainMs))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	adm := c.admin(t)
	if _, err := adm.CreateTopic(ctx, 6, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Two groups coordinated by each node.
	coordinated := map[int32]int{}
	for i := 0; len(coordinated) < 3 || coordinated[1] < 2 || coordinated[2] < 2 || coordinated[3] < 2; i++ {
		g := fmt.Sprintf("%s-%d", topic, i)
		found := groupCoordinator(t, ctx, adm, g)
		switch coordinated[found] {
		case 0:
			franzGoMembers(t, ctx, c, adm, g, topic, 2, 3*time.Second)
		case 1:
			silentMember(t, ctx, c, g, found)
		default:
			continue
		}
		coordinated[found]++
	}
	start := time.Now()
	if out, err := gregor(t, "cluster", "down", "--dir", c.dir, "--timeout", "60s"); err != nil {
		t.Fatalf("cluster down: %v\n%s", err, out)
	}
	took := time.Since(start)
	var lines []string
	for i := 1; i <= 3; i++ {
		lines = append(lines, drainLines(c, i)...)
	}
	if took > drainMs*time.Millisecond/2 {
		t.Fatalf("cluster down took %v: its nodes waited for members with nowhere to go\n%s", took.Round(time.Millisecond), strings.Join(lines, "\n"))
	}
	t.Logf("cluster down took %v\n%s", took.Round(time.Millisecond), strings.Join(lines, "\n"))
}
