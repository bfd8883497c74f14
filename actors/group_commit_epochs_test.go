package actors

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-1251 with franz-go's KIP-848 consumer over TCP: a member's offset
// commit sent at the epoch it had before a rebalance moved it on (the
// commit reaches the coordinator after the heartbeat that did, as when
// franz-go pipelines them) is accepted for the partitions the member kept
// and refused with STALE_MEMBER_EPOCH for those it gave up; before KIP-1251
// every partition was refused and franz-go could neither detect nor handle
// it.
func TestConsumerGroupCommitAtOlderEpoch(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	created, err := adm.CreateTopic(ctx, 4, 1, nil, "epochs")
	if err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "epochs", 0, 40)
	var mu sync.Mutex
	seen := map[string]bool{}
	member := func() *kgo.Client {
		return newClient(t, n, kgo.ConsumerGroup("g1251"), kgo.ConsumeTopics("epochs"), kgo.ServerSideBalancer(),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	a := member()
	startPoller(t, ctx, a, &mu, seen)
	consumerAssignments(t, ctx, adm, "g1251", 1, 4)
	var id string
	var before int32
	waitUntil(t, ctx, "member A's epoch", func() bool { id, before = a.GroupMetadata(); return before > 0 })

	// B joins: A gives up half of its partitions and reaches a new epoch.
	startPoller(t, ctx, member(), &mu, seen)
	assigned := consumerAssignments(t, ctx, adm, "g1251", 2, 4)
	waitUntil(t, ctx, "member A past its first epoch", func() bool { _, e := a.GroupMetadata(); return e > before })
	kept := assigned[id]["epochs"]
	keptList := slices.Sorted(maps.Keys(kept))
	if len(kept) != 2 {
		t.Fatalf("member A owns %v of %v", kept, assigned)
	}

	req := offsetCommitOfPartitions("g1251", id, before, "epochs", created.ID, 4, 5)
	resp, err := req.RequestWith(ctx, newClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			want := kerr.StaleMemberEpoch.Code
			if _, ok := kept[rp.Partition]; ok {
				want = 0
			}
			if rp.ErrorCode != want {
				t.Errorf("partition %d (A keeps %v) committed at A's old epoch %d: %v, want %v",
					rp.Partition, keptList, before, kerr.ErrorForCode(rp.ErrorCode), kerr.ErrorForCode(want))
			}
		}
	}
	fetched, err := adm.FetchOffsets(ctx, "g1251")
	if err != nil {
		t.Fatal(err)
	}
	var committed []int32
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At == 5 {
			committed = append(committed, o.Partition)
		}
	})
	slices.Sort(committed)
	if !slices.Equal(committed, keptList) {
		t.Fatalf("committed %v, want A's partitions %v", committed, keptList)
	}
}

// A static KIP-848 member of franz-go whose join reaches the coordinator a
// second time (franz-go resends a request whose connection died before the
// answer came, and rejoins with its member id after FENCED_MEMBER_EPOCH)
// gets its state back as it is, as in Kafka: the same epoch and
// assignment, no new group epoch, and commits at its epoch still accepted.
// gregor used to start the member over, moving the group epoch and the
// member's assignment epochs: the commits franz-go sent at the epoch it had
// were refused with STALE_MEMBER_EPOCH, which it reports as
// REBALANCE_IN_PROGRESS for the partitions it no longer held.
func TestConsumerGroupJoinAgainWithOwnID(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	created, err := adm.CreateTopic(ctx, 2, 1, nil, "rejoin")
	if err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "rejoin", 0, 20)
	var mu sync.Mutex
	a := newClient(t, n, kgo.ConsumerGroup("grejoin"), kgo.ConsumeTopics("rejoin"), kgo.ServerSideBalancer(),
		kgo.InstanceID("i1"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	startPoller(t, ctx, a, &mu, map[string]bool{})
	consumerAssignments(t, ctx, adm, "grejoin", 1, 2)
	var id string
	var epoch int32
	waitUntil(t, ctx, "member A's epoch", func() bool { id, epoch = a.GroupMetadata(); return epoch > 0 })
	groupEpoch := func() int32 {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{"grejoin"}
		resp, err := req.RequestWith(ctx, newClient(t, n))
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			t.Fatalf("describe: %v %+v", err, resp)
		}
		return resp.Groups[0].Epoch
	}
	before := groupEpoch()

	join := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	join.Group, join.MemberID, join.MemberEpoch, join.InstanceID = "grejoin", id, 0, kmsg.StringPtr("i1")
	join.RebalanceTimeoutMillis, join.ServerAssignor = 60000, kmsg.StringPtr("uniform")
	join.SubscribedTopicNames, join.Topics = []string{"rejoin"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := join.RequestWith(ctx, newClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || resp.MemberEpoch != epoch || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 ||
		len(resp.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("join again with member A's id: %v epoch %d assignment %+v, want A's epoch %d and both partitions",
			kerr.ErrorForCode(resp.ErrorCode), resp.MemberEpoch, resp.Assignment, epoch)
	}
	if after := groupEpoch(); after != before {
		t.Fatalf("group epoch moved from %d to %d", before, after)
	}

	commit := offsetCommitOfPartitions("grejoin", id, epoch, "rejoin", created.ID, 2, 3)
	cresp, err := commit.RequestWith(ctx, newClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range cresp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Errorf("partition %d committed at A's epoch %d after it joined again: %v", rp.Partition, epoch, kerr.ErrorForCode(rp.ErrorCode))
			}
		}
	}
}

// offsetCommitOfPartitions commits offset for partitions 0 to partitions-1
// of a topic, as member at epoch (its generation) of group.
func offsetCommitOfPartitions(group, member string, epoch int32, topic string, id [16]byte, partitions int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, epoch
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	for p := range partitions {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offset
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}
