package actors

import (
	"time"

	"gregor/groups"
)

// While the broker lease has lapsed (broker_lease.go), a group coordinator
// holds the requests it gets, and ticks its core no more, instead of
// refusing them at once: a lapse is most often short (a controller slow to
// acknowledge a heartbeat on a loaded machine), and a member whose
// heartbeat was refused with NOT_COORDINATOR looks its coordinator up again
// and heartbeats next only an interval later, so two refused heartbeats
// ended its session (librdkafka's own session timer counts them too: its
// test 0091 failed so at load 12, after a lapse of this node's lease).
// Once the lease holds again, the held requests go to the core in the order
// they came, before the core's next tick, so a member that heartbeated
// through the lapse keeps its session. A request held GroupConfig.LeaseHoldMs
// (2 s by default) while the lease still does not hold is answered
// NOT_COORDINATOR, as before: a node cut off from the controller for good
// stops answering, and its clients find the coordinator the controller
// moved the group to. Nothing is answered from the core's state while the
// lease does not hold.

// defaultLeaseHoldMs is how long a group request is held while the lease
// has lapsed, unless GroupConfig.LeaseHoldMs says otherwise.
const defaultLeaseHoldMs = 2000

// leaseRecheck is how often a coordinator holding requests, or a tick,
// looks at the lease again.
const leaseRecheck = 50 * time.Millisecond

// heldGroupRequest is a request held while the lease lapsed, with the
// monotonic time it came.
type heldGroupRequest struct {
	req    *groupRequest
	sinceM int64
}

// groupLeaseCheck wakes a coordinator that holds requests or a tick to look
// at the lease again.
type groupLeaseCheck struct{}

// admit says whether the coordinator may hand msg to its core now; if not,
// it holds it (behind any request already held, so that requests keep
// their order).
func (a *groupCoordinator) admit(msg *groupRequest) bool {
	if len(a.held) == 0 && !a.tickHeld && a.g.n.leaseHolds() {
		return true
	}
	a.held = append(a.held, heldGroupRequest{req: msg, sinceM: a.g.n.cfg.Clock.Now().MonoMs})
	a.releaseHeld()
	return false
}

// holdTick says whether a due tick must wait for the lease, and if so
// holds it: the core's sessions and rebalance deadlines do not run out
// while the members' requests cannot reach it.
func (a *groupCoordinator) holdTick() bool {
	if len(a.held) == 0 && a.g.n.leaseHolds() {
		return false
	}
	a.tickHeld = true
	a.releaseHeld()
	return a.tickHeld
}

// releaseHeld hands the held requests to the core, then ticks it, once the
// lease holds again; until then it answers NOT_COORDINATOR to those held
// the hold bound and looks again after leaseRecheck.
func (a *groupCoordinator) releaseHeld() {
	if a.g.n.leaseHolds() {
		held := a.held
		a.held, a.tickHeld = nil, false
		for _, h := range held {
			a.handle(h.req)
		}
		if len(held) > 0 || a.core.NextDeadlineMs() <= a.now().MonoMs {
			a.refreshTopics()
			a.core.Tick(a.now())
		}
		return
	}
	now, bound := a.g.n.cfg.Clock.Now().MonoMs, a.g.cfg.LeaseHoldMs
	if bound <= 0 {
		bound = defaultLeaseHoldMs
	}
	kept := a.held[:0]
	for _, h := range a.held {
		if now-h.sinceM >= bound {
			h.req.respond(groups.ErrorResponse(h.req.body, leaseRefusal(h.req.body)))
			continue
		}
		kept = append(kept, h)
	}
	a.held = kept
	if len(a.held) > 0 || a.tickHeld {
		a.armLeaseCheck()
	}
}

// armLeaseCheck schedules a groupLeaseCheck after leaseRecheck, once.
func (a *groupCoordinator) armLeaseCheck() {
	if a.leaseCheckArmed {
		return
	}
	a.leaseCheckArmed = true
	if a.leaseTimer == nil {
		self, root := a.self, a.g.n.system.Root
		a.leaseTimer = time.AfterFunc(leaseRecheck, func() { root.Send(self, &groupLeaseCheck{}) })
		return
	}
	a.leaseTimer.Reset(leaseRecheck)
}

// answerHeld answers NOT_COORDINATOR to every held request (the
// coordinator stops).
func (a *groupCoordinator) answerHeld() {
	for _, h := range a.held {
		h.req.answerUndelivered()
	}
	a.held, a.tickHeld = nil, false
}
