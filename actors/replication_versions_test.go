package actors

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replicationVersionCases are TestEveryAdvertisedVersion's cases of the
// replication APIs a client may send: OffsetForLeaderEpoch, asked where
// the topic's only leader epoch ends (its log end offset, past the records
// the Produce cases wrote), and with a leader epoch from the future.
func replicationVersionCases(t *testing.T, n *Node) map[int16]func(ctx context.Context, v int16) error {
	return map[int16]func(ctx context.Context, v int16) error{
		int16(kmsg.OffsetForLeaderEpoch): func(ctx context.Context, v int16) error {
			cl := pinnedClient(t, n, int16(kmsg.OffsetForLeaderEpoch), v)
			ask := func(current, epoch int32) (kmsg.OffsetForLeaderEpochResponseTopicPartition, error) {
				req := kmsg.NewPtrOffsetForLeaderEpochRequest()
				req.ReplicaID = -1
				rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
				rt.Topic = "versions"
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, epoch
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return kmsg.OffsetForLeaderEpochResponseTopicPartition{}, err
				}
				if resp.Version != v || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					return kmsg.OffsetForLeaderEpochResponseTopicPartition{}, fmt.Errorf("v%d answer %+v", resp.Version, resp)
				}
				return resp.Topics[0].Partitions[0], nil
			}
			p, err := ask(0, 0)
			if err == nil && (p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset < 1) {
				err = fmt.Errorf("epoch 0 ends at %d (leader epoch %d): %v", p.EndOffset, p.LeaderEpoch, kerr.ErrorForCode(p.ErrorCode))
			}
			if err != nil {
				return err
			}
			if p, err = ask(7, 0); err == nil && p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
				err = fmt.Errorf("a leader epoch from the future answered %v", kerr.ErrorForCode(p.ErrorCode))
			}
			return err
		},
	}
}
