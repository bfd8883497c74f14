package actors

import (
	"time"

	"gregor/groups"
)

// While the broker lease has lapsed (broker_lease.go), a group coordinator
// holds the requests it gets, and its core's ticks, as its groups.LeaseGate
// decides: up to GroupConfig.LeaseHoldMs (2 s by default), released to the
// core in order once the lease holds again, refused NOT_COORDINATOR after
// that. librdkafka's test 0091 lost a consumer so before: at load 12 this
// node's lease lapsed, two of the consumer's heartbeats were refused, and
// the client's own 6 s session timer ran out.

// leaseRecheck is how often a coordinator holding requests, or a tick,
// looks at the lease again.
const leaseRecheck = 50 * time.Millisecond

// groupLeaseCheck wakes a coordinator that holds requests or a tick to look
// at the lease again.
type groupLeaseCheck struct{}

// admit hands msg to the gate, and carries out its outcome.
func (a *groupCoordinator) admit(msg *groupRequest) {
	a.gateOutcome(a.gate.Admit(msg, a.g.n.leaseHolds(), a.g.n.cfg.Clock.Now().MonoMs))
}

// gateTick hands a due tick to the gate, and carries out its outcome.
func (a *groupCoordinator) gateTick() {
	a.gateOutcome(a.gate.Tick(a.g.n.leaseHolds(), a.g.n.cfg.Clock.Now().MonoMs))
}

// gateCheck looks at the lease again.
func (a *groupCoordinator) gateCheck() {
	a.leaseCheckArmed = false
	a.gateOutcome(a.gate.Check(a.g.n.leaseHolds(), a.g.n.cfg.Clock.Now().MonoMs))
}

// gateOutcome carries out what the gate decided: the released requests to
// the core in order, then a tick; the refused answered NOT_COORDINATOR
// (COORDINATOR_NOT_AVAILABLE for ListGroups); a look at the lease later.
func (a *groupCoordinator) gateOutcome(o groups.LeaseGateOutcome[*groupRequest]) {
	for _, req := range o.Release {
		a.handle(req)
	}
	if o.Tick {
		a.refreshTopics()
		a.core.Tick(a.now())
	}
	for _, req := range o.Refuse {
		req.respond(groups.ErrorResponse(req.body, leaseRefusal(req.body)))
	}
	if o.Recheck && !a.leaseCheckArmed {
		a.leaseCheckArmed = true
		if a.leaseTimer == nil {
			self, root := a.self, a.g.n.system.Root
			a.leaseTimer = time.AfterFunc(leaseRecheck, func() { root.Send(self, &groupLeaseCheck{}) })
			return
		}
		a.leaseTimer.Reset(leaseRecheck)
	}
}

// answerHeld answers NOT_COORDINATOR to every held request (the
// coordinator stops).
func (a *groupCoordinator) answerHeld() {
	for _, req := range a.gate.Drop() {
		req.answerUndelivered()
	}
}
