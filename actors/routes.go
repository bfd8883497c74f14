package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/cluster"
)

// routes is an immutable snapshot of where requests go: the metadata image
// and the actor of every partition this node hosts. The replica manager
// publishes a new one after each change; the router reads it without locks.
// A change copies only the topics it touches.
type routes struct {
	image      *cluster.MetadataImage
	partitions cluster.PersistentMap[string, []*actor.PID]
}

// partition returns the actor of topic-partition, or nil.
func (r *routes) partition(topic string, partition int32) *actor.PID {
	pids, _ := r.partitions.Get(topic)
	if partition < 0 || int(partition) >= len(pids) {
		return nil
	}
	return pids[partition]
}

// routeTable holds the current routes, and the answers waiting for routes
// that show what they report.
type routeTable struct {
	p       atomic.Pointer[routes]
	waiters imageWaiters
}

func newRouteTable() *routeTable {
	t := &routeTable{}
	t.p.Store(&routes{image: cluster.NewMetadataImage()})
	return t
}

func (t *routeTable) load() *routes { return t.p.Load() }

func (t *routeTable) store(r *routes) {
	t.p.Store(r)
	t.waiters.published(r.image)
}

// lookupTopic finds a topic as a request names it: by name, or by id in the
// versions that carry topic ids.
func (r *routes) lookupTopic(name string, id cluster.TopicID, byID bool) (*cluster.TopicImage, bool) {
	if byID {
		return r.image.TopicByID(id)
	}
	return r.image.Topic(name)
}

// route returns the actor of a partition of a looked-up topic, or the Kafka
// error code telling why there is none.
func (r *routes) route(t *cluster.TopicImage, found, byID bool, partition int32) (*actor.PID, int16) {
	switch {
	case !found && byID:
		return nil, kerr.UnknownTopicID.Code
	case !found || partition < 0 || partition >= t.PartitionCount():
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	if pid := r.partition(t.Name, partition); pid != nil {
		return pid, 0
	}
	// The partition's actor stopped on a corrupt or failing log.
	return nil, kerr.NotLeaderForPartition.Code
}
