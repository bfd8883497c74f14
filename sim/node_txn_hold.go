package sim

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
	"gregor/txn"
)

// As production's transaction coordinators do (actors/txn_lease_hold.go),
// a coordinator whose node's broker lease has lapsed holds the requests
// it gets (a client's, a broker's verification or add, its own node's),
// and its core's ticks, as its groups.LeaseGate decides (2 s at most,
// production's default), looking at the lease again every leaseRecheckMs
// while anything is held: a deposed coordinator cut off from the
// controller neither times transactions out nor sends markers again
// meanwhile.

// admit hands a request to the lease gate.
func (th *txnHost) admit(req kmsg.Request, respond func(kmsg.Response)) {
	th.gateOutcome(th.gate.Admit(pendingTxnRequest{req: req, respond: respond}, th.n.leaseHolds(), th.n.instant().MonoMs))
}

// gateOutcome carries out what the lease gate decided: the released
// requests to the core in order, then a tick; the refused answered
// NOT_COORDINATOR; a look at the lease later.
func (th *txnHost) gateOutcome(o groups.LeaseGateOutcome[pendingTxnRequest]) {
	n := th.n
	for _, p := range o.Release {
		if th.core != nil {
			th.handle(p.req, p.respond)
		}
	}
	if o.Tick && th.core != nil && th.loaded {
		th.core.Tick(th.now())
		th.carryOut()
	}
	for _, p := range o.Refuse {
		p.respond(txn.ErrorResponse(p.req, kerr.NotCoordinator.Code))
	}
	if o.Recheck && !th.recheckArmed {
		th.recheckArmed = true
		n.after(leaseRecheckMs, func() {
			th.recheckArmed = false
			if th.core != nil {
				th.gateOutcome(th.gate.Check(n.leaseHolds(), n.instant().MonoMs))
			}
		})
	}
}

// answerHeld answers NOT_COORDINATOR to every held request (the
// coordinator stops).
func (th *txnHost) answerHeld() {
	for _, p := range th.gate.Drop() {
		p.respond(txn.ErrorResponse(p.req, kerr.NotCoordinator.Code))
	}
}
