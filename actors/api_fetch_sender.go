package actors

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/netio"
)

// replicaFetch is what a follower's Fetch says of the follower (its
// replica id: ReplicaID before v15, ReplicaState from v15 on), nil for a
// consumer's (replica id -1) or another tool's (negative ids).
func replicaFetch(body *kmsg.FetchRequest, now cluster.Instant) *cluster.FollowerFetch {
	id, epoch := body.ReplicaID, int64(-1)
	if body.Version >= 15 {
		id, epoch = body.ReplicaState.ID, body.ReplicaState.Epoch
	}
	if id < 0 {
		return nil
	}
	return &cluster.FollowerFetch{ReplicaID: id, FetchedAtMs: now.MonoMs, BrokerEpoch: epoch}
}

// fetcherKey names who sends a Fetch, for cluster.Watch.Fetcher: a
// follower by its broker id (its fetcher may move to a new connection), a
// client by its connection (clients send one Fetch at a time to a broker),
// nothing (0) for a request from no connection.
func fetcherKey(req *netio.Request, follower *cluster.FollowerFetch) uint64 {
	switch {
	case follower != nil:
		return 1<<63 | uint64(uint32(follower.ReplicaID))
	case req.Conn != nil:
		return req.Conn.ID &^ (1 << 63)
	}
	return 0
}
