package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A graceful stop keeps its listener open until the group members that
// talked to its coordinators learn they moved (controlled.shutdown.drain.ms
// at most, 30 s here). A member whose JoinGroup waits in the coordinator
// for the group's other members (a rebalance under way) is answered
// NOT_COORDINATOR when the controlled shutdown moves the coordinator away:
// it has learnt, and looks its coordinator up elsewhere (franz-go does,
// and sends the stopping node no heartbeat again). The stop must not wait
// for it: in a judge's rolling restart such members held a node's stop for
// the whole drain. Raw requests (franz-go's kmsg) make the member whose
// join waits: member x joins and syncs, its client closes (x stays in the
// group until its session ends), then member y joins and waits for x.
func TestGracefulStopDoesNotWaitForMembersAnsweredByTheirCoordinator(t *testing.T) {
	const drainMs = 30000
	c := clusterUp(t, 3, "offsets.topic.num.partitions=6", "group.initial.rebalance.delay.ms=0",
		fmt.Sprintf("controlled.shutdown.drain.ms=%d", drainMs))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	md, err := c.metadata(1)
	if err != nil {
		t.Fatal(err)
	}
	adm := c.admin(t)
	// A group coordinated by a node that is not the controller.
	var group string
	var coordinator int32
	for i := 0; group == ""; i++ {
		g := fmt.Sprintf("drain-%d", i)
		found := groupCoordinator(t, ctx, adm, g)
		if found != md.ControllerID {
			group, coordinator = g, found
		}
	}
	// member is a client whose requests go to the coordinator's node on a
	// connection of their own.
	member := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	join := func(cl *kgo.Client, memberID string) (*kmsg.JoinGroupResponse, error) {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 60000
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"drain"}
		proto := kmsg.NewJoinGroupRequestProtocol()
		proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, proto)
		return req.RequestWith(ctx, cl.Broker(int(coordinator)))
	}
	// joinWithID joins, and again with the member id the coordinator
	// requires (JoinGroup v4+). A coordinator FindCoordinator named may
	// still be loading its partition of __consumer_offsets: a client
	// retries COORDINATOR_LOAD_IN_PROGRESS, so the test does too.
	joinWithID := func(cl *kgo.Client) string {
		var resp *kmsg.JoinGroupResponse
		waitFor(t, 30*time.Second, "the coordinator of "+group+" to load", func() bool {
			var err error
			if resp, err = join(cl, ""); err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code
		})
		if resp.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("first join: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.MemberID
	}

	x := member()
	xID := joinWithID(x)
	joined, err := join(x, xID)
	if err != nil || joined.ErrorCode != 0 {
		t.Fatalf("x joins: %v %v", err, kerr.ErrorForCode(joined.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = group, xID, joined.Generation
	assignment := kmsg.NewSyncGroupRequestGroupAssignment()
	empty := kmsg.NewConsumerMemberAssignment()
	assignment.MemberID, assignment.MemberAssignment = xID, empty.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, assignment)
	if synced, err := sync.RequestWith(ctx, x.Broker(int(coordinator))); err != nil || synced.ErrorCode != 0 {
		t.Fatalf("x syncs: %v %+v", err, synced)
	}
	x.Close()

	y := member()
	defer y.Close()
	yID := joinWithID(y)
	type answer struct {
		resp *kmsg.JoinGroupResponse
		err  error
	}
	yJoin := make(chan answer, 1)
	go func() {
		resp, err := join(y, yID)
		yJoin <- answer{resp, err}
	}()
	waitFor(t, 30*time.Second, "y's join to wait for x", func() bool {
		described, err := adm.DescribeGroups(ctx, group)
		return err == nil && described[group].State == "PreparingRebalance"
	})

	pid, start := c.pid(int(coordinator)), time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-yJoin:
		if a.err != nil || a.resp.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("y's waiting join: %v %+v, want NOT_COORDINATOR", a.err, a.resp)
		}
		t.Logf("y's waiting join answered NOT_COORDINATOR %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("y's waiting join not answered 20 s after SIGTERM")
	}
	for processRuns(pid) {
		if took := time.Since(start); took > drainMs*time.Millisecond/2 {
			t.Fatalf("the node still runs %v after SIGTERM: its stop waits for the member answered NOT_COORDINATOR", took.Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond) // polling a process's exit; nothing to wait on
	}
	t.Logf("the coordinator's node stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}
