package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// fetchBoard is where a partition actor publishes its fetch view
// (cluster.FetchView) after each step, and where the Fetches waiting on the
// partition park: a Fetch answers a partition from the view when the core
// says it can (cluster.FetchView.ReadFromView), without a message to the
// actor, and a parked Fetch registers here instead of sending the actor a
// watch. The actor wakes the registered Fetches a new view wakes
// (cluster.FetchView.Wakes) when it publishes it; a registration checks
// the current view under the same lock, so no wake-up is lost between a
// Fetch's read and its registration.
type fetchBoard struct {
	view atomic.Pointer[cluster.FetchView]

	// queued counts the messages posted to the partition's mailbox and
	// not yet handled (its middleware keeps it, partitionMailboxWith):
	// while any is, the view may be about to change (an append of a
	// Produce sent to several partitions at once, say), and a read goes
	// through the actor, behind them, as it always did. Reading such a
	// partition from its view answered a follower's Fetch woken by one
	// partition of a Produce before the Produce's other partitions had
	// appended, and each of those took a Fetch of its own.
	queued atomic.Int64
	// counted says the mailbox keeps queued; without it (an actor spawned
	// without partitionMailboxWith) the view is never read.
	counted bool
	// handedOff counts the runs of the partition's mailbox handed to a
	// worker goroutine, not run inline by a sender (partitionMailbox;
	// tests read it).
	handedOff atomic.Int64
	// syncsAppends says the partition's log syncs after appends
	// (flush.messages): senders of small appends hand them to a worker,
	// so that several partitions' syncs overlap (smallAppendBytes).
	syncsAppends atomic.Bool

	mu      sync.Mutex
	waiters map[boardKey]boardWait
	// scratch is the actor's buffer for the next view (actor goroutine
	// only).
	scratch cluster.FetchView
}

// boardKey is one partition of one parked Fetch.
type boardKey struct {
	st    *fetchShell
	index int
}

// boardWait is what a parked Fetch waits for in a partition.
type boardWait struct {
	part       cluster.FetchPartition
	isolation  cluster.IsolationLevel
	wakesAbove int64
}

// fetchBoards are the boards of the node's partition actors, by actor id.
type fetchBoards struct{ m sync.Map }

// of is the board of a partition actor (nil: none, the actor never
// started or has stopped).
func (b *fetchBoards) of(pid *actor.PID) *fetchBoard {
	if pid == nil {
		return nil
	}
	if v, ok := b.m.Load(pid.Id); ok {
		return v.(*fetchBoard)
	}
	return nil
}

// newFetchBoard makes a partition's board.
func newFetchBoard() *fetchBoard { return &fetchBoard{waiters: map[boardKey]boardWait{}} }

// open returns the board of a partition actor: made is the one its spawner
// made with its mailbox (nil: none, one is made); a restarted actor keeps
// its board and its parked Fetches.
func (b *fetchBoards) open(pid *actor.PID, made *fetchBoard) *fetchBoard {
	if made == nil {
		made = newFetchBoard()
	}
	v, _ := b.m.LoadOrStore(pid.Id, made)
	return v.(*fetchBoard)
}

// currentView is the partition's view when it is current (no message
// waits in the partition's mailbox or is being handled), else nil.
func (fb *fetchBoard) currentView() *cluster.FetchView {
	if !fb.counted || fb.queued.Load() != 0 {
		return nil
	}
	return fb.view.Load()
}

// close removes a stopped partition actor's board and wakes its Fetches.
func (b *fetchBoards) close(pid *actor.PID, board *fetchBoard) {
	b.m.CompareAndDelete(pid.Id, board)
	board.publish(nil)
}

// publishFrom publishes the replica's view when it changed since the last
// one, waking the Fetches it wakes.
func (fb *fetchBoard) publishFrom(core *cluster.Replica) {
	core.FetchView(&fb.scratch)
	if last := fb.view.Load(); last != nil && last.Equal(&fb.scratch) {
		return
	}
	fb.publish(fb.scratch.Clone())
}

// publish stores v (nil: the partition stopped) and wakes the Fetches it
// wakes, outside the lock.
func (fb *fetchBoard) publish(v *cluster.FetchView) {
	fb.view.Store(v)
	fb.mu.Lock()
	if len(fb.waiters) == 0 {
		fb.mu.Unlock()
		return
	}
	var woken []*fetchShell
	for k, w := range fb.waiters {
		if v.Wakes(w.part, w.isolation, w.wakesAbove) {
			delete(fb.waiters, k)
			woken = append(woken, k.st)
		}
	}
	fb.mu.Unlock()
	for _, st := range woken {
		st.wake()
	}
}

// register parks target index of a Fetch here. It reports true, parking
// nothing, when the current view already wakes it.
func (fb *fetchBoard) register(k boardKey, w boardWait) bool {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.view.Load().Wakes(w.part, w.isolation, w.wakesAbove) {
		return true
	}
	fb.waiters[k] = w
	return false
}

// unregister drops a Fetch's registration, if it is still parked.
func (fb *fetchBoard) unregister(k boardKey) {
	fb.mu.Lock()
	delete(fb.waiters, k)
	fb.mu.Unlock()
}

// closeBoard withdraws the partition's view as its actor stops (the parked
// Fetches wake and read through the actor: a restarted one answers them, a
// stopped one's dead letters do); a final stop removes the board.
func (a *partitionActor) closeBoard(final bool) {
	if a.board == nil {
		return
	}
	if final {
		a.node.fetchBoards.close(a.self, a.board)
		return
	}
	a.board.publish(nil)
}
