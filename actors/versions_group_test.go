package actors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// keyReadHook signals each response of one API key the client reads
// without error.
type keyReadHook struct {
	key  int16
	read chan struct{}
}

func (h *keyReadHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == h.key && err == nil {
		select {
		case h.read <- struct{}{}:
		default:
		}
	}
}

// groupMember runs a franz-go group consumer of topic "versions" pinned to
// version v of key, until it has read a record and (when awaitKey) read an
// answer of key; then it leaves the group.
func groupMember(ctx context.Context, t *testing.T, n *Node, key, v int16, group string, awaitKey bool, opts ...kgo.Opt) error {
	hook := &keyReadHook{key: key, read: make(chan struct{}, 1)}
	cl := pinnedClient(t, n, key, v, append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics("versions"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.HeartbeatInterval(50 * time.Millisecond), kgo.WithHooks(hook)}, opts...)...)
	defer cl.Close()
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err(); err != nil {
		return err
	}
	if len(fs.Records()) == 0 {
		return fmt.Errorf("no record")
	}
	if awaitKey {
		select {
		case <-hook.read:
		case <-ctx.Done():
			return fmt.Errorf("no %s answer read", kmsg.NameForKey(key))
		}
	}
	return nil
}

// groupVersionCases drives every advertised version of the group APIs.
// The topic "versions" exists with records in both partitions.
func groupVersionCases(t *testing.T, n *Node) map[int16]func(ctx context.Context, v int16) error {
	adm := kadm.NewClient(newClient(t, n))
	commit := func(ctx context.Context, group string, offset int64) error {
		res, err := adm.CommitOffsets(ctx, group, kadm.Offsets{"versions": {0: {Topic: "versions", Partition: 0, At: offset, LeaderEpoch: -1}}})
		if err == nil {
			err = res.Error()
		}
		return err
	}
	return map[int16]func(ctx context.Context, v int16) error{
		int16(kmsg.FindCoordinator): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey, req.CoordinatorKeys = "find", []string{"find", "other"}
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.FindCoordinator), v))
			if err != nil {
				return err
			}
			switch {
			case v < 4 && (resp.ErrorCode != 0 || resp.NodeID != n.cfg.NodeID):
				return fmt.Errorf("answer %+v", resp)
			case v >= 4 && (len(resp.Coordinators) != 2 || resp.Coordinators[1].ErrorCode != 0 || resp.Coordinators[1].NodeID != n.cfg.NodeID):
				return fmt.Errorf("answer %+v", resp)
			}
			return nil
		},
		int16(kmsg.JoinGroup): func(ctx context.Context, v int16) error {
			return groupMember(ctx, t, n, int16(kmsg.JoinGroup), v, fmt.Sprint("join-v", v), false)
		},
		int16(kmsg.SyncGroup): func(ctx context.Context, v int16) error {
			return groupMember(ctx, t, n, int16(kmsg.SyncGroup), v, fmt.Sprint("sync-v", v), false)
		},
		int16(kmsg.Heartbeat): func(ctx context.Context, v int16) error {
			return groupMember(ctx, t, n, int16(kmsg.Heartbeat), v, fmt.Sprint("heartbeat-v", v), true)
		},
		int16(kmsg.LeaveGroup): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("leave-v", v)
			if err := groupMember(ctx, t, n, int16(kmsg.LeaveGroup), v, group, false); err != nil {
				return err
			}
			described, err := adm.DescribeGroups(ctx, group)
			if err == nil && (described[group].State != "Empty" || len(described[group].Members) != 0) {
				err = fmt.Errorf("after leaving: %+v", described[group])
			}
			return err
		},
		int16(kmsg.OffsetCommit): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("commit-v", v)
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.OffsetCommit), v)).CommitOffsets(ctx, group,
				kadm.Offsets{"versions": {1: {Topic: "versions", Partition: 1, At: 1, LeaderEpoch: -1, Metadata: "m"}}})
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				return err
			}
			fetched, err := adm.FetchOffsets(ctx, group)
			if o, _ := fetched.Lookup("versions", 1); err == nil && (o.At != 1 || o.Metadata != "m") {
				err = fmt.Errorf("fetched %+v", o)
			}
			return err
		},
		int16(kmsg.OffsetFetch): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("fetch-v", v)
			if err := commit(ctx, group, 1); err != nil {
				return err
			}
			// Named partitions: v1 cannot ask for every offset (kadm
			// does), so the request is written here.
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Group, req.Topics = group, []kmsg.OffsetFetchRequestTopic{{Topic: "versions", Partitions: []int32{0}}}
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group, rg.Topics = group, []kmsg.OffsetFetchRequestGroupTopic{{Topic: "versions", Partitions: []int32{0}}}
			req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.OffsetFetch), v))
			if err != nil {
				return err
			}
			var got kmsg.OffsetFetchResponseGroupTopicPartition
			switch {
			case resp.Version != v:
				return fmt.Errorf("answered at v%d", resp.Version)
			case v < 8 && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1:
				p := resp.Topics[0].Partitions[0]
				got.Offset, got.ErrorCode = p.Offset, p.ErrorCode
			case v >= 8 && len(resp.Groups) == 1 && len(resp.Groups[0].Topics) == 1 && len(resp.Groups[0].Topics[0].Partitions) == 1:
				got = resp.Groups[0].Topics[0].Partitions[0]
			default:
				return fmt.Errorf("answer %+v", resp)
			}
			if got.Offset != 1 || got.ErrorCode != 0 {
				return fmt.Errorf("fetched %+v", got)
			}
			return nil
		},
		int16(kmsg.DescribeGroups): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("describe-v", v)
			if err := commit(ctx, group, 1); err != nil {
				return err
			}
			described, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.DescribeGroups), v)).DescribeGroups(ctx, group)
			if err == nil && described[group].State != "Empty" {
				err = fmt.Errorf("described %+v", described[group])
			}
			return err
		},
		int16(kmsg.ListGroups): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("list-v", v)
			if err := commit(ctx, group, 1); err != nil {
				return err
			}
			listed, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.ListGroups), v)).ListGroups(ctx)
			if _, ok := listed[group]; err == nil && !ok {
				err = fmt.Errorf("listed %v", listed.Groups())
			}
			return err
		},
		int16(kmsg.DeleteGroups): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("delete-v", v)
			if err := commit(ctx, group, 1); err != nil {
				return err
			}
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.DeleteGroups), v)).DeleteGroup(ctx, group)
			if err == nil {
				err = res.Err
			}
			if err != nil {
				return err
			}
			described, err := adm.DescribeGroups(ctx, group)
			if d := described[group]; err == nil && !errors.Is(d.Err, kerr.GroupIDNotFound) && d.State != "Dead" {
				return fmt.Errorf("deleted group still described: %+v", d)
			}
			return nil
		},
		int16(kmsg.ConsumerGroupHeartbeat): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("cgh-v", v)
			if v >= 1 {
				// franz-go's KIP-848 consumer speaks v1.
				return groupMember(ctx, t, n, int16(kmsg.ConsumerGroupHeartbeat), v, group, true, kgo.ServerSideBalancer())
			}
			// v0: the coordinator names the member.
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberEpoch, req.RebalanceTimeoutMillis, req.SubscribedTopicNames = group, 0, 30000, []string{"versions"}
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.ConsumerGroupHeartbeat), v))
			if err == nil && (resp.ErrorCode != 0 || resp.MemberID == nil || *resp.MemberID == "" || resp.MemberEpoch != 1 || resp.Assignment == nil || resp.Version != v) {
				err = fmt.Errorf("answer %+v", resp)
			}
			return err
		},
		int16(kmsg.ConsumerGroupDescribe): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("cgd-v", v)
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis, req.SubscribedTopicNames = group, "described", 0, 30000, []string{"versions"}
			if _, err := req.RequestWith(ctx, newClient(t, n)); err != nil {
				return err
			}
			described, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.ConsumerGroupDescribe), v)).DescribeConsumerGroups(ctx, group)
			if d := described[group]; err == nil && (d.Err != nil || len(d.Members) != 1 || d.Members[0].MemberID != "described" || len(d.Members[0].Assignment["versions"]) != 2) {
				err = fmt.Errorf("described %+v", d)
			}
			return err
		},
		int16(kmsg.OffsetDelete): func(ctx context.Context, v int16) error {
			group := fmt.Sprint("offset-delete-v", v)
			if err := commit(ctx, group, 1); err != nil {
				return err
			}
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.OffsetDelete), v)).DeleteOffsets(ctx, group, kadm.TopicsSet{"versions": {0: {}}})
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				return err
			}
			fetched, err := adm.FetchOffsets(ctx, group)
			if _, ok := fetched.Lookup("versions", 0); err == nil && ok {
				err = fmt.Errorf("offset still there: %+v", fetched)
			}
			return err
		},
	}
}
