package sim

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
)

// As production's group coordinators do (actors/group_lease_hold.go), a
// coordinator whose node's broker lease has lapsed holds the requests it
// gets, and its core's ticks, as its groups.LeaseGate decides (2 s at
// most, production's default), looking at the lease again every
// leaseRecheckMs while anything is held.

// leaseRecheckMs is production's leaseRecheck.
const leaseRecheckMs = 50

// heldGroupRequest is a request a coordinator's lease gate holds.
type heldGroupRequest struct {
	m   *message
	req kmsg.Request
}

// admit hands a request to the lease gate.
func (gh *groupHost) admit(m *message, req kmsg.Request) {
	gh.gateOutcome(gh.gate.Admit(heldGroupRequest{m: m, req: req}, gh.n.leaseHolds(), gh.n.instant().MonoMs))
}

// handle hands a request to the core.
func (gh *groupHost) handle(m *message, req kmsg.Request) {
	gh.nextID++
	gh.waiting[gh.nextID] = m
	if gh.loaded {
		gh.refreshTopics()
	}
	gh.core.Handle(gh.nextID, req, groups.Client{ID: endpointName(m.from), Host: "sim"}, gh.now())
	gh.carryOut()
}

// gateOutcome carries out what the lease gate decided: the released
// requests to the core in order, then a tick; the refused answered
// NOT_COORDINATOR; a look at the lease later.
func (gh *groupHost) gateOutcome(o groups.LeaseGateOutcome[heldGroupRequest]) {
	n := gh.n
	for _, h := range o.Release {
		if gh.core != nil {
			gh.handle(h.m, h.req)
		}
	}
	if o.Tick && gh.core != nil && gh.loaded {
		gh.refreshTopics()
		gh.core.Tick(gh.now())
		gh.carryOut()
	}
	for _, h := range o.Refuse {
		n.w.respond(h.m, groups.ErrorResponse(h.req, kerr.NotCoordinator.Code))
	}
	if o.Recheck && !gh.recheckArmed {
		gh.recheckArmed = true
		n.after(leaseRecheckMs, func() {
			gh.recheckArmed = false
			if gh.core != nil {
				gh.gateOutcome(gh.gate.Check(n.leaseHolds(), n.instant().MonoMs))
			}
		})
	}
}

// answerHeld answers NOT_COORDINATOR to every held request (the
// coordinator stops).
func (gh *groupHost) answerHeld() {
	for _, h := range gh.gate.Drop() {
		gh.n.w.respond(h.m, groups.ErrorResponse(h.req, kerr.NotCoordinator.Code))
	}
}
