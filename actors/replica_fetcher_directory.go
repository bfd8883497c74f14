package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// fetcherDirectory lists the node's running replica fetchers by source
// broker, for the follower partitions' shortcut: a partition hands each new
// fetch state straight to the fetcher of its leader as well as to the
// fetcher manager. The shortcut saves a mailbox hop on every replication
// round trip (outcome, append, new state, next Fetch), which on a busy
// machine waits for the manager's goroutine to be scheduled.
//
// The manager stays the authority on routes: it writes the directory when
// it starts, stops or replaces a fetcher, and a partition tells it every
// state that changes its route (another leader, out of fetching, a new
// incarnation) or that found no fetcher here (partitionActor.
// publishFetchState); the other states go through the shortcut only. A
// fetcher that fails loses the states it held: the manager asks each of its
// partitions for its state again (fetchStateWanted), which reaches the
// fetcher started in its place. A fetcher takes a state at most once (the
// core ignores a state no newer than the one it holds), so a copy that
// comes second is a no-op.
type fetcherDirectory struct {
	m sync.Map // int32 (leader) -> *actor.PID
	// routed counts the states the manager routed (tests read it).
	routed atomic.Int64
	// restartDelayMs is the pause of the last replacement of a failed
	// fetcher (tests read it).
	restartDelayMs atomic.Int64
}

// lookup is the fetcher of a source broker, or nil.
func (d *fetcherDirectory) lookup(leader int32) *actor.PID {
	if v, ok := d.m.Load(leader); ok {
		return v.(*actor.PID)
	}
	return nil
}

// set records (pid) or forgets (nil) the fetcher of a source broker.
func (d *fetcherDirectory) set(leader int32, pid *actor.PID) {
	if pid == nil {
		d.m.Delete(leader)
		return
	}
	d.m.Store(leader, pid)
}

// clear forgets every fetcher (the manager starts or stops: its fetchers
// stop with it).
func (d *fetcherDirectory) clear() {
	d.m.Range(func(k, _ any) bool {
		d.m.Delete(k)
		return true
	})
}

// shortcutFetchState sends a follower's new fetch state straight to the
// fetcher of its leader, when one runs, and reports whether it did. A
// state that takes the partition out of fetching (no leader, idle) goes
// only through the manager.
func (n *Node) shortcutFetchState(p cluster.FetcherPartition, st cluster.FollowerFetchState, owner fetcherOwner) bool {
	if st.Leader < 0 || st.Phase == cluster.FollowerIdle {
		return false
	}
	pid := n.fetcherDir.lookup(st.Leader)
	if pid == nil {
		return false
	}
	n.system.Root.Send(pid, &fetcherSetPartition{partition: p, state: st, owner: owner})
	return true
}
