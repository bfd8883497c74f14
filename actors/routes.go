package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// routes is an immutable snapshot of where requests go: the metadata image
// and the actor of every partition. The controller publishes a new one after
// each change; the router reads it without locks.
type routes struct {
	image      *cluster.MetadataImage
	partitions map[string][]*actor.PID
}

// partition returns the actor of topic-partition, or nil.
func (r *routes) partition(topic string, partition int32) *actor.PID {
	pids := r.partitions[topic]
	if partition < 0 || int(partition) >= len(pids) {
		return nil
	}
	return pids[partition]
}

// routeTable holds the current routes.
type routeTable struct{ p atomic.Pointer[routes] }

func newRouteTable() *routeTable {
	t := &routeTable{}
	t.p.Store(&routes{image: cluster.NewMetadataImage(), partitions: map[string][]*actor.PID{}})
	return t
}

func (t *routeTable) load() *routes { return t.p.Load() }

func (t *routeTable) store(r *routes) { t.p.Store(r) }
