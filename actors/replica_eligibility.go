package actors

import (
	"maps"
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// Which brokers may join an ISR: the replica manager tells its partition
// actors whenever the metadata image changes its answer, so that a leader
// stops waiting for a fenced follower (Kafka's isReplicaIsrEligible), and
// asks at once to add a caught-up follower whose broker became eligible
// (with the brokers' epochs, to tell its current incarnation's fetches).

// isrEligibilityChanged tells a partition actor the brokers that may join no
// ISR now, in id order, and the registered brokers' epochs.
type isrEligibilityChanged struct {
	ineligible   []int32
	brokerEpochs map[int32]int64
}

func (*isrEligibilityChanged) answerUndelivered() {}

// eligibilityChanged tells every hosted partition actor the brokers next
// says may join no ISR of its partition (MetadataImage.
// ISRIneligibleReplicas: fenced, in controlled shutdown, or reporting their
// replica of it offline), when they differ from what it was told. A
// restarted actor starts from its assignment's list.
func (m *replicaManager) eligibilityChanged(ctx actor.Context, prev, next *cluster.MetadataImage) {
	if slices.Equal(next.ISRIneligibleBrokers(), prev.ISRIneligibleBrokers()) && !next.HasOfflineReplicas() && !prev.HasOfflineReplicas() {
		return
	}
	epochs := next.BrokerEpochs() // shared, read only
	for _, id := range slices.Sorted(maps.Keys(m.hosted)) {
		h := m.hosted[id]
		if h.stopping {
			continue
		}
		pa := *h.assignment.Load()
		ineligible := next.ISRIneligibleReplicas(h.topicID, h.partition)
		if slices.Equal(ineligible, pa.ineligible) {
			continue
		}
		pa.ineligible, pa.brokerEpochs = ineligible, epochs
		h.assignment.Store(&pa)
		ctx.Send(m.node.system.NewLocalPID(id), &isrEligibilityChanged{ineligible: ineligible, brokerEpochs: epochs})
	}
}

// Whether followers truncate on fetch (cluster.Replica.SetTruncateOnFetch):
// once the cluster finalized gregor.replication.version 1 every leader
// answers diverging epochs, unless this node's replica.truncate.on.fetch
// is off.

// truncateOnFetchChanged tells a partition actor whether its follower
// truncates on fetch now.
type truncateOnFetchChanged struct{ on bool }

func (*truncateOnFetchChanged) answerUndelivered() {}

// truncateOnFetch says whether this node's followers truncate on fetch in a
// cluster whose image is img.
func (n *Node) truncateOnFetch(img *cluster.MetadataImage) bool {
	return !n.cfg.FollowersAskEpochFirst && img != nil && cluster.TruncateOnFetchAllowed(img.FeatureLevel(cluster.ReplicationVersionFeature))
}

// truncateOnFetchChanged tells every hosted partition actor whether its
// follower truncates on fetch, when next's answer differs from prev's.
func (m *replicaManager) truncateOnFetchChanged(ctx actor.Context, prev, next *cluster.MetadataImage) {
	on := m.node.truncateOnFetch(next)
	if on == m.node.truncateOnFetch(prev) {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(m.hosted)) {
		h := m.hosted[id]
		if h.stopping {
			continue
		}
		pa := *h.assignment.Load()
		pa.truncateOnFetch = on
		h.assignment.Store(&pa)
		ctx.Send(m.node.system.NewLocalPID(id), &truncateOnFetchChanged{on: on})
	}
}
