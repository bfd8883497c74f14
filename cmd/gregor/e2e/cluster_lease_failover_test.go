package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// coordinatorGapBound bounds how long a group coordinator on a healthy
// node may answer NOT_COORDINATOR across a kill of the active controller:
// its lease (900 ms from its last acknowledged heartbeat) may lapse while
// the quorum elects the next controller (an election timeout of 1 s plus a
// random part of up to as much again), and it answers again once its
// heartbeat reaches that one. A heartbeat left waiting at the dead
// controller until its timeout (3 s) used to make it more.
const coordinatorGapBound = 2500 * time.Millisecond

// The active controller's process is killed (SIGKILL) while a client asks
// a group's coordinator, on another node, for the group's offsets every
// 20 ms over one connection. The coordinator's broker lease may lapse
// until a new controller acknowledges its heartbeat: the test measures
// the longest run of NOT_COORDINATOR answers and bounds it. The kernel
// closes the dead process's connections, so a heartbeat in flight to it
// fails at once and goes to the other voters.
func TestCoordinatorAnswersAcrossControllerKill(t *testing.T) {
	coordinatorGapAcrossController(t, syscall.SIGKILL)
}

// As TestCoordinatorAnswersAcrossControllerKill, but the controller's
// process is paused (SIGSTOP; resumed at the end): its connections stay
// open and silent, as across a network partition, so a heartbeat in flight
// to it would wait out its timeout (3 s). The broker sends it again to the
// new controller as soon as its quorum names one. Before that, the
// coordinator answered NOT_COORDINATOR for 3-4 s here.
func TestCoordinatorAnswersAcrossControllerPause(t *testing.T) {
	coordinatorGapAcrossController(t, syscall.SIGSTOP)
}

// coordinatorGapAcrossController stops the active controller's process
// with sig and measures (and bounds) the longest run of NOT_COORDINATOR
// answers of a group coordinator on another node.
func coordinatorGapAcrossController(t *testing.T, sig syscall.Signal) {
	g := groupAwayFromController(t, "failover")
	c, controller := g.c, g.controller

	conn, fetch := g.dialCoordinator(t)
	var (
		corr       int32
		killed     time.Time
		refusedAt  time.Time // start of the current run of refusals
		longest    time.Duration
		refusals   int
		answers    int
		lastAnswer time.Time
	)
	pid := c.pid(int(controller))
	if sig == syscall.SIGSTOP {
		defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	}
	start := time.Now()
	for time.Since(start) < 12*time.Second {
		if killed.IsZero() && time.Since(start) >= 2*time.Second {
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatal(err)
			}
			killed = time.Now()
		}
		corr++
		writeRequest(t, conn, fetch, corr)
		at, code := offsetFetchOn(t, conn, fetch, corr)
		now := time.Now()
		answers++
		switch code {
		case 0:
			if at != 5 {
				t.Fatalf("the coordinator answered offset %d, want 5", at)
			}
			if !refusedAt.IsZero() {
				longest = max(longest, now.Sub(refusedAt))
				refusedAt = time.Time{}
			}
		case kerr.NotCoordinator.Code:
			refusals++
			if refusedAt.IsZero() {
				// The run started after the last answer that served.
				refusedAt = lastAnswer
			}
		default:
			t.Fatalf("the coordinator answered %v", kerr.ErrorForCode(code))
		}
		lastAnswer = now
		time.Sleep(20 * time.Millisecond)
	}
	if !refusedAt.IsZero() {
		t.Fatalf("the coordinator still answers NOT_COORDINATOR %v after the controller was stopped (%v; %d refusals of %d answers)",
			time.Since(killed), sig, refusals, answers)
	}
	t.Logf("%v: longest run of NOT_COORDINATOR answers: %v (%d refusals of %d answers)", sig, longest, refusals, answers)
	if longest > coordinatorGapBound {
		t.Fatalf("the coordinator answered NOT_COORDINATOR for %v across the controller's stop (%v), more than %v", longest, sig, coordinatorGapBound)
	}
}
