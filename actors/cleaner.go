package actors

import (
	"context"
	"sync"

	"gregor/logstore"
)

// logCleaner is the node's compaction worker (Kafka's log cleaner with
// log.cleaner.threads=1): partition actors plan clean jobs on their own
// goroutine, the cleaner runs them one at a time on its own, and each result
// goes back to the partition actor, which commits or abandons the job. Appends
// never wait for it.
type logCleaner struct {
	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan cleanRequest
	wg     sync.WaitGroup
	opts   logstore.CleanerOptions

	mu      sync.Mutex
	stopped bool
}

// cleanRequest is one job and where its outcome goes. done closes once Run
// has returned (the job's files are settled then).
type cleanRequest struct {
	job  *logstore.CleanJob
	done chan struct{}
	// finished receives Run's error; it must not block.
	finished func(error)
}

// cleanerQueueLength bounds the jobs waiting for the cleaner; a partition
// whose job does not fit tries again at its next retention check.
const cleanerQueueLength = 1024

func newLogCleaner() *logCleaner {
	ctx, cancel := context.WithCancel(context.Background())
	c := &logCleaner{ctx: ctx, cancel: cancel, jobs: make(chan cleanRequest, cleanerQueueLength),
		opts: logstore.CleanerOptions{MaxKeys: logstore.DefaultCleanerMaxKeys}}
	c.wg.Add(1)
	go c.loop()
	return c
}

func (c *logCleaner) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			c.drain()
			return
		case req := <-c.jobs:
			err := c.ctx.Err()
			if err == nil {
				err = req.job.Run(c.ctx, c.opts)
			}
			close(req.done)
			req.finished(err)
		}
	}
}

// drain answers the jobs still queued at shutdown without running them.
func (c *logCleaner) drain() {
	for {
		select {
		case req := <-c.jobs:
			close(req.done)
			req.finished(c.ctx.Err())
		default:
			return
		}
	}
}

// submit queues job; finished gets Run's outcome. It reports false, without
// calling finished, when the queue is full or the cleaner stopped.
func (c *logCleaner) submit(job *logstore.CleanJob, finished func(error)) (done <-chan struct{}, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, false
	}
	req := cleanRequest{job: job, done: make(chan struct{}), finished: finished}
	select {
	case c.jobs <- req:
		return req.done, true
	default:
		return nil, false
	}
}

// stop cancels the running job and waits for the cleaner to end.
func (c *logCleaner) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}
