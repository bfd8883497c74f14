package actors

import (
	"sync"

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
// The manager stays the authority: it writes the directory when it starts,
// stops or replaces a fetcher, and still routes every state as before, so a
// state the shortcut sent to a fetcher that stopped meanwhile (and was
// dropped) reaches the fetcher that replaced it. A fetcher takes a state at
// most once (the core ignores a state no newer than the one it holds), so
// the copy that comes second is a no-op.
type fetcherDirectory struct {
	m sync.Map // int32 (leader) -> *actor.PID
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
// fetcher of its leader, when one runs (the manager gets the state too).
// A state that takes the partition out of fetching (no leader, idle) goes
// only through the manager.
func (n *Node) shortcutFetchState(p cluster.FetcherPartition, st cluster.FollowerFetchState, owner fetcherOwner) {
	if st.Leader < 0 || st.Phase == cluster.FollowerIdle {
		return
	}
	if pid := n.fetcherDir.lookup(st.Leader); pid != nil {
		n.system.Root.Send(pid, &fetcherSetPartition{partition: p, state: st, owner: owner})
	}
}
