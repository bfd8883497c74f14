package actors

import (
	"sync"
	"sync/atomic"
)

// workerDispatcher runs actor mailboxes on long-lived worker goroutines,
// for the partition actors. protoactor's default dispatcher starts a
// goroutine per mailbox run: a partition's produce path (validation,
// append, reply) is deep enough that each fresh goroutine grows its stack
// (copying it, and allocating a larger one that is freed when the goroutine
// ends), and every run also pays for starting and ending a goroutine, with
// one run per partition per Produce request. A worker keeps its grown stack
// from run to run. BenchmarkDispatcher (six actors with a deep handler):
// about a ninth of the CPU per round; under produce of 100 B records to six
// partitions, the stack growth and goroutine exits it removes were 8-10%
// of the broker's CPU profile.
//
// Schedule never blocks: a run goes to an idle worker when one waits, to a
// new worker while there are fewer than maxWorkers, else to a goroutine of
// its own as with the default dispatcher. Workers wait for runs until stop
// (the node's actor system stopping), then end; runs scheduled after that
// get goroutines of their own.
type workerDispatcher struct {
	throughput int
	maxWorkers int32
	runs       chan func() // unbuffered: a send succeeds only to a waiting worker
	workers    atomic.Int32
	stopped    chan struct{}
	stopOnce   sync.Once
}

// partitionWorkers bounds the workers of the partition actors' dispatcher:
// runs in progress at once (a partition actor that waits on storage holds
// one), far above what two to a few dozen cores run in parallel.
const partitionWorkers = 64

// mailboxThroughput is how many messages a mailbox run handles before it
// yields the processor (protoactor's default).
const mailboxThroughput = 300

func newWorkerDispatcher(maxWorkers int, throughput int) *workerDispatcher {
	return &workerDispatcher{throughput: throughput, maxWorkers: int32(maxWorkers), runs: make(chan func()), stopped: make(chan struct{})}
}

// Schedule implements actor.Dispatcher. A nil dispatcher starts a
// goroutine per run.
func (d *workerDispatcher) Schedule(run func()) {
	if d == nil {
		go run()
		return
	}
	select {
	case d.runs <- run:
		return
	default:
	}
	select {
	case <-d.stopped:
		go run()
		return
	default:
	}
	if d.workers.Add(1) <= d.maxWorkers {
		go d.work(run)
		return
	}
	d.workers.Add(-1)
	go run()
}

// Throughput implements actor.Dispatcher.
func (d *workerDispatcher) Throughput() int {
	if d == nil {
		return mailboxThroughput
	}
	return d.throughput
}

// work runs first, then every run handed to it until stop.
func (d *workerDispatcher) work(run func()) {
	defer d.workers.Add(-1)
	for {
		run()
		select {
		case run = <-d.runs:
		case <-d.stopped:
			return
		}
	}
}

// stop ends the waiting workers (idempotent; nothing for nil); runs in
// progress finish.
func (d *workerDispatcher) stop() {
	if d != nil {
		d.stopOnce.Do(func() { close(d.stopped) })
	}
}
