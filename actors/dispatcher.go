package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// workerDispatcher runs actors' mailboxes on long-lived goroutines. The
// default dispatcher starts a goroutine each time a mailbox is scheduled,
// whose stack then grows by copying through every call an actor makes: for
// actors that take many small messages (a transaction's partitions and its
// coordinator), growing stacks cost a quarter of the node's CPU. A worker
// keeps its grown stack for the next mailbox. When every worker is busy
// the mailbox gets a goroutine of its own, as before, so no actor waits for
// another.
type workerDispatcher struct {
	work       chan func()
	done       chan struct{}
	throughput int
}

// dispatcherWorkers bounds the idle workers kept.
const dispatcherWorkers = 64

// actorThroughput is how many messages a mailbox takes before it yields
// (protoactor's default).
const actorThroughput = 300

func newWorkerDispatcher(throughput int) *workerDispatcher {
	d := &workerDispatcher{work: make(chan func()), done: make(chan struct{}), throughput: throughput}
	for range dispatcherWorkers {
		go d.worker()
	}
	return d
}

func (d *workerDispatcher) worker() {
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.done:
			return
		}
	}
}

// stop ends the idle workers once the node's actors stopped; a mailbox
// scheduled later gets a goroutine of its own.
func (d *workerDispatcher) stop() { close(d.done) }

// Schedule implements actor.Dispatcher.
func (d *workerDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

// Throughput implements actor.Dispatcher.
func (d *workerDispatcher) Throughput() int { return d.throughput }

var _ actor.Dispatcher = (*workerDispatcher)(nil)

// countingDispatcher is a dispatcher that counts the mailbox runs handed to
// it (the group coordinators': each wakes a goroutine).
type countingDispatcher struct {
	actor.Dispatcher
	scheduled *atomic.Int64
}

// Schedule implements actor.Dispatcher.
func (d countingDispatcher) Schedule(fn func()) {
	d.scheduled.Add(1)
	d.Dispatcher.Schedule(fn)
}
