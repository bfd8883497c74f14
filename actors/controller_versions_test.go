package actors

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterVersionCases are TestEveryAdvertisedVersion's cases of the APIs a
// broker forwards to the controller, against topic "versions" of node n.
func clusterVersionCases(t *testing.T, n *Node) map[int16]func(ctx context.Context, v int16) error {
	return map[int16]func(ctx context.Context, v int16) error{
		int16(kmsg.ElectLeaders): func(ctx context.Context, v int16) error {
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.ElectLeaders), v)).ElectLeaders(ctx, kadm.ElectPreferredReplica,
				kadm.TopicsSet{"versions": {0: {}}})
			if err != nil {
				return err
			}
			r, ok := res["versions"][0]
			if !ok || (r.Err != nil && r.Err != kerr.ElectionNotNeeded) {
				return fmt.Errorf("elect versions-0: %+v", res)
			}
			return nil
		},
		int16(kmsg.AlterPartitionAssignments): func(ctx context.Context, v int16) error {
			var req kadm.AlterPartitionAssignmentsReq
			req.Assign("versions", 0, []int32{1})
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.AlterPartitionAssignments), v)).AlterPartitionAssignments(ctx, req)
			if err == nil {
				err = res.Error()
			}
			return err
		},
		int16(kmsg.ListPartitionReassignments): func(ctx context.Context, v int16) error {
			_, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.ListPartitionReassignments), v)).ListPartitionReassignments(ctx,
				kadm.TopicsSet{"versions": {0: {}}})
			return err
		},
		int16(kmsg.DescribeQuorum): func(ctx context.Context, v int16) error {
			resp, err := describeQuorumRequest().RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeQuorum), v))
			if err != nil {
				return err
			}
			if resp.Version != v || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.LeaderID != n.cfg.NodeID || len(p.CurrentVoters) != 1 || p.HighWatermark < 1 {
				return fmt.Errorf("metadata partition %+v", p)
			}
			return nil
		},
	}
}
