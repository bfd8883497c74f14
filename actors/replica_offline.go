package actors

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// offlineReplicasChanged hands the broker lifecycle the directory ids
// (cluster.PartitionDirectoryID) of the node's offline replicas, which its
// heartbeats report to the controller in OfflineLogDirs so that it moves
// those partitions' leadership and ISR away from this node.
type offlineReplicasChanged struct{ dirs [][16]byte }

// markOffline records whether the node's replica of a partition is offline
// (its actor stopped on a corrupt or failing log) and tells the broker
// lifecycle when the set changes.
func (m *replicaManager) markOffline(ctx actor.Context, topicID cluster.TopicID, partition int32, offline bool) {
	if m.offline == nil {
		m.offline = map[[16]byte]bool{}
	}
	id := cluster.PartitionDirectoryID(topicID, partition)
	if m.offline[id] == offline {
		return
	}
	if offline {
		m.offline[id] = true
	} else {
		delete(m.offline, id)
	}
	dirs := make([][16]byte, 0, len(m.offline))
	for d := range m.offline {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
	ctx.Send(m.node.system.NewLocalPID(brokerLifecycleName), &offlineReplicasChanged{dirs: dirs})
}
