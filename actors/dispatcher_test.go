package actors

import (
	"sync"
	"testing"
	"time"
)

// Every scheduled function runs, on a worker or, when all are busy, on a
// goroutine of its own, so a function that blocks holds up no other; after
// stop, scheduling still runs them.
func TestWorkerDispatcher(t *testing.T) {
	d := newWorkerDispatcher(actorThroughput)
	release := make(chan struct{})
	var blocked, ran sync.WaitGroup
	// More blocking functions than workers: the rest must run anyway.
	for range dispatcherWorkers + 10 {
		blocked.Add(1)
		d.Schedule(func() { blocked.Done(); <-release })
	}
	waitGroup(t, &blocked, "blocked functions")
	ran.Add(1)
	d.Schedule(ran.Done)
	waitGroup(t, &ran, "a function scheduled while every worker is busy")
	close(release)
	d.stop()
	ran.Add(1)
	d.Schedule(ran.Done)
	waitGroup(t, &ran, "a function scheduled after stop")
	if d.Throughput() != actorThroughput {
		t.Fatalf("throughput %d", d.Throughput())
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not run", what)
	}
}
