package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A group epoch whose record fails to append is never told: the member
// that asked for it gets a retriable error, the coordinator reloads its
// partition, and the group goes on from the last epoch it recorded.
// __consumer_offsets is made to refuse appends by asking two in-sync
// replicas of its single one.
func TestGroupCoordinatorRevertsFailedEpoch(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "revert"); err != nil {
		t.Fatal(err)
	}
	broker := cl.SeedBrokers()[0]
	join := func(member string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.RebalanceTimeoutMillis = 1, "g-revert", member, 30000
		req.SubscribedTopicNames, req.Topics = []string{"revert"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, broker)
		if err != nil {
			t.Fatalf("heartbeat of %s: %v", member, err)
		}
		return resp
	}
	var first *kmsg.ConsumerGroupHeartbeatResponse
	waitUntil(t, ctx, "the coordinator to serve", func() bool {
		// FindCoordinator creates __consumer_offsets.
		find := kmsg.NewPtrFindCoordinatorRequest()
		find.CoordinatorKey, find.CoordinatorKeys = "g-revert", []string{"g-revert"}
		if _, err := find.RequestWith(ctx, broker); err != nil {
			t.Fatal(err)
		}
		first = join("a")
		return first.ErrorCode == 0
	})
	told := first.MemberEpoch
	alterOffsetsMinISR(t, ctx, adm, kadm.StringPtr("2"))
	// Until the partition takes the config, members join and are told
	// recorded epochs; then a join's epoch fails to append.
	var failed *kmsg.ConsumerGroupHeartbeatResponse
	joins := 0
	waitUntil(t, ctx, "a join whose epoch fails to append", func() bool {
		joins++
		resp := join(fmt.Sprintf("m%d", joins))
		if resp.ErrorCode == 0 {
			told = max(told, resp.MemberEpoch)
			return false
		}
		failed = resp
		return true
	})
	if code := failed.ErrorCode; code != kerr.CoordinatorNotAvailable.Code && code != kerr.NotCoordinator.Code {
		t.Fatalf("a join whose record failed got %v, want COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	alterOffsetsMinISR(t, ctx, adm, nil)
	// The reloaded coordinator knows no member (members rejoin after a
	// load) and goes on from the last recorded epoch: the failed one is
	// handed out again, now recorded, never skipped back.
	var again *kmsg.ConsumerGroupHeartbeatResponse
	waitUntil(t, ctx, "a join after the reload", func() bool {
		again = join("z")
		return again.ErrorCode == 0
	})
	if again.MemberEpoch != told+1 {
		t.Fatalf("after the reload a join got epoch %d; the last epoch told was %d, so want %d", again.MemberEpoch, told, told+1)
	}
}

// alterOffsetsMinISR sets (or with nil deletes) min.insync.replicas of
// __consumer_offsets.
func alterOffsetsMinISR(t *testing.T, ctx context.Context, adm *kadm.Client, value *string) {
	t.Helper()
	op := kadm.SetConfig
	if value == nil {
		op = kadm.DeleteConfig
	}
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: "min.insync.replicas", Value: value}}, "__consumer_offsets")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("alter min.insync.replicas of __consumer_offsets: %v %+v", err, resps)
	}
}
