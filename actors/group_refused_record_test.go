package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
)

// A classic group's SyncGroup whose assignment makes a group record larger
// than __consumer_offsets' max.message.bytes fails alone with
// UNKNOWN_SERVER_ERROR (as Kafka maps MESSAGE_TOO_LARGE) and the group
// rebalances again; the coordinator keeps its other groups: a KIP-848
// member of a group on the same partition keeps its member epoch. It used
// to revert and reload the whole coordinator, which forgot the KIP-848
// member (and did so again at every such SyncGroup).
func TestGroupRecordTooLargeFailsAlone(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.Groups = GroupConfig{OffsetsTopicPartitions: 3, ConsumerHeartbeatIntervalMs: 100, ConsumerSessionTimeoutMs: 3000,
			InitialRebalanceDelayMs: -1}
	})
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "rec"); err != nil {
		t.Fatal(err)
	}
	// Three groups of the same __consumer_offsets partition: a KIP-848
	// one, a classic one and one to probe the size limit with.
	names := sameCoordinatorGroups(3, 3)
	k, g, probe := names[0], names[1], names[2]
	_, before := pollingConsumerMember(t, ctx, n, adm, k, "rec", 2)

	limitOffsetsRecords(t, ctx, adm, 2000, probe, "rec")

	memberID, gen := joinClassic(t, ctx, cl, g, "")
	for _, size := range []int{5000, 5000, 10} {
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.Generation = g, memberID, gen
		sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: memberID, MemberAssignment: make([]byte, size)}}
		resp, err := sync.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		want := kerr.UnknownServerError.Code
		if size < 100 {
			want = 0
		}
		if resp.ErrorCode != want {
			t.Fatalf("SyncGroup with an assignment of %d bytes: %v, want %v", size, kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(want))
		}
		after := describeConsumerGroup(t, ctx, adm, k)
		if len(after.Members) != 1 || after.Members[0].MemberID != before.Members[0].MemberID ||
			after.Members[0].MemberEpoch != before.Members[0].MemberEpoch {
			t.Fatalf("the KIP-848 group changed across a SyncGroup of %d bytes: before %+v, after %+v", size, before, after)
		}
		if want != 0 {
			// The group rebalances again: the member rejoins.
			memberID, gen = joinClassic(t, ctx, cl, g, memberID)
		}
	}
}

// sameCoordinatorGroups names count groups that hash to the same partition
// of a __consumer_offsets of partitions partitions.
func sameCoordinatorGroups(count int, partitions int32) []string {
	var out []string
	for i := 0; len(out) < count; i++ {
		name := fmt.Sprintf("grp-%d", i)
		if groups.PartitionFor(name, partitions) == 0 {
			out = append(out, name)
		}
	}
	return out
}

// joinClassic joins a classic consumer group as its only member (asking
// for a member id first when memberID is empty) and returns the member id
// and generation.
func joinClassic(t *testing.T, ctx context.Context, cl *kgo.Client, group, memberID string) (string, int32) {
	t.Helper()
	for {
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.MemberID, join.ProtocolType = group, memberID, "consumer"
		join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10000, 10000
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"rec"}
		join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
		resp, err := join.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.ErrorCode {
		case kerr.MemberIDRequired.Code:
			memberID = resp.MemberID
			continue
		case 0:
			return resp.MemberID, resp.Generation
		}
		t.Fatalf("JoinGroup: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// Deleting a group whose offsets' tombstones take more than
// __consumer_offsets' max.message.bytes: the coordinator writes them in
// batches the partition takes (the shell halves a refused batch of
// tombstones), so the group is deleted, and the coordinator keeps its other
// groups (a KIP-848 member keeps its epoch). The one batch used to be
// refused, which reverted the coordinator, and the group could never be
// deleted.
func TestGroupTombstonesSplitWhenTooLarge(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	const partitions = 60
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, "many"); err != nil {
		t.Fatal(err)
	}
	names := sameCoordinatorGroups(3, 3)
	k, big, probe := names[0], names[1], names[2]
	_, before := pollingConsumerMember(t, ctx, n, adm, k, "many", partitions)
	offsets := kadm.Offsets{}
	for p := range int32(partitions) {
		offsets.AddOffset("many", p, 1, -1)
	}
	if err := adm.CommitAllOffsets(ctx, big, offsets); err != nil {
		t.Fatal(err)
	}
	// 60 tombstones take about 1.5 KB: more than 600 bytes.
	limitOffsetsRecords(t, ctx, adm, 600, probe, "many")
	deleted, err := adm.DeleteGroups(ctx, big)
	if err == nil {
		err = deleted[big].Err
	}
	if err != nil {
		t.Fatalf("deleting group %s: %v", big, err)
	}
	fetched, err := adm.FetchOffsets(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			left++
		}
	})
	if left > 0 {
		t.Fatalf("%d offsets of the deleted group %s left", left, big)
	}
	after := describeConsumerGroup(t, ctx, adm, k)
	if len(after.Members) != 1 || after.Members[0].MemberID != before.Members[0].MemberID ||
		after.Members[0].MemberEpoch != before.Members[0].MemberEpoch {
		t.Fatalf("the KIP-848 group changed across the deletion: before %+v, after %+v", before, after)
	}
}
