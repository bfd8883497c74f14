package actors

import (
	"maps"
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// Which brokers may join an ISR: the replica manager tells its partition
// actors whenever the metadata image changes its answer, so that a leader
// stops waiting for a fenced follower (Kafka's isReplicaIsrEligible).

// isrEligibilityChanged tells a partition actor the brokers that may join no
// ISR now, in id order.
type isrEligibilityChanged struct{ ineligible []int32 }

func (*isrEligibilityChanged) answerUndelivered() {}

// eligibilityChanged tells every hosted partition actor the brokers next
// says may join no ISR, when they differ from prev's. A restarted actor
// starts from its assignment's list.
func (m *replicaManager) eligibilityChanged(ctx actor.Context, prev, next *cluster.MetadataImage) {
	ineligible := next.ISRIneligibleBrokers()
	if slices.Equal(ineligible, prev.ISRIneligibleBrokers()) {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(m.hosted)) {
		h := m.hosted[id]
		if h.stopping {
			continue
		}
		pa := *h.assignment.Load()
		pa.ineligible = ineligible
		h.assignment.Store(&pa)
		ctx.Send(m.node.system.NewLocalPID(id), &isrEligibilityChanged{ineligible: ineligible})
	}
}
