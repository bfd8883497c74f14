package actors

import (
	"time"

	"gregor/groups"
)

// While the broker lease has lapsed (broker_lease.go), a transaction
// coordinator holds the requests and partition leaders' asks it gets, and
// its core's ticks, as a group coordinator does (group_lease_hold.go),
// through the same groups.LeaseGate: up to TxnConfig.LeaseHoldMs (2 s by
// default), released to the core in order once the lease holds again,
// refused after that (NOT_COORDINATOR; NOT_ENOUGH_REPLICAS to a local ask,
// which the producer retries). A client whose EndTxn or AddPartitionsToTxn
// comes during a short lapse (a controller slow on a loaded machine) is
// answered once the lease holds, not sent to look its coordinator up
// again. Holding the ticks pauses the core's timers meanwhile: no
// transaction times out, and no marker is sent again, by a coordinator
// that may have been deposed (its node cut off from the controller) until
// the lease holds again or the coordinator stops.

// txnHeld is what a transaction coordinator's lease gate holds: a
// *txnRequest or a *txnLocalAsk, each refused by answerUndelivered.
type txnHeld interface{ answerUndelivered() }

// txnLeaseCheck wakes a coordinator that holds requests or a tick to look
// at the lease again.
type txnLeaseCheck struct{}

// admit hands a request or ask to the gate, and carries out its outcome.
func (a *txnCoordinator) admit(msg txnHeld) {
	if a.closing {
		msg.answerUndelivered()
		return
	}
	a.gateOutcome(a.gate.Admit(msg, a.x.n.leaseHolds(), a.x.n.cfg.Clock.Now().MonoMs))
}

// gateTick hands a due tick to the gate, and carries out its outcome.
func (a *txnCoordinator) gateTick() {
	a.gateOutcome(a.gate.Tick(a.x.n.leaseHolds(), a.x.n.cfg.Clock.Now().MonoMs))
}

// gateCheck looks at the lease again.
func (a *txnCoordinator) gateCheck() {
	a.leaseCheckArmed = false
	a.gateOutcome(a.gate.Check(a.x.n.leaseHolds(), a.x.n.cfg.Clock.Now().MonoMs))
}

// gateOutcome carries out what the gate decided: the released requests to
// the core and asks to be gathered, in order, then a tick; the refused
// answered; a look at the lease later.
func (a *txnCoordinator) gateOutcome(o groups.LeaseGateOutcome[txnHeld]) {
	for _, held := range o.Release {
		switch m := held.(type) {
		case *txnRequest:
			a.handle(m)
		case *txnLocalAsk:
			a.gatherAsk(m.ask)
		}
	}
	if o.Tick {
		a.core.Tick(a.now())
	}
	for _, held := range o.Refuse {
		held.answerUndelivered()
	}
	if o.Recheck && !a.leaseCheckArmed {
		a.leaseCheckArmed = true
		if a.leaseTimer == nil {
			self, root := a.self, a.x.n.system.Root
			a.leaseTimer = time.AfterFunc(leaseRecheck, func() { root.Send(self, &txnLeaseCheck{}) })
			return
		}
		a.leaseTimer.Reset(leaseRecheck)
	}
}

// answerHeld answers every request and ask the gate holds (the
// coordinator stops).
func (a *txnCoordinator) answerHeld() {
	for _, held := range a.gate.Drop() {
		held.answerUndelivered()
	}
}

// stopTimers stops the coordinator's tick and lease check timers.
func (a *txnCoordinator) stopTimers() {
	a.ticks.stop()
	if a.leaseTimer != nil {
		a.leaseTimer.Stop()
	}
}
