package sim

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
)

// As production's group coordinators do (actors/group_lease_hold.go), a
// coordinator whose node's broker lease has lapsed holds the requests it
// gets, and does not tick its core, instead of refusing them at once. Once
// the lease holds again the held requests go to the core in the order
// they came, before its next tick, so that a member heartbeating through a
// short lapse keeps its session; a request held leaseHoldMs while the lease
// still does not hold is answered NOT_COORDINATOR. The lease is looked at
// again every leaseRecheckMs while anything is held.

const (
	// leaseHoldMs is production's default GroupConfig.LeaseHoldMs.
	leaseHoldMs = 2000
	// leaseRecheckMs is production's leaseRecheck.
	leaseRecheckMs = 50
)

// heldGroupRequest is a request held while the lease lapsed, with the
// node's monotonic time when it came.
type heldGroupRequest struct {
	m      *message
	req    kmsg.Request
	sinceM int64
}

// admit says whether the coordinator may hand the request to its core now;
// if not, it holds it (behind any request already held).
func (gh *groupHost) admit(m *message, req kmsg.Request) bool {
	if len(gh.held) == 0 && !gh.tickHeld && gh.n.leaseHolds() {
		return true
	}
	gh.held = append(gh.held, heldGroupRequest{m: m, req: req, sinceM: gh.n.instant().MonoMs})
	gh.releaseHeld()
	return false
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

// releaseHeld hands the held requests to the core, then ticks it, once the
// lease holds again; until then it refuses those held leaseHoldMs and looks
// again after leaseRecheckMs.
func (gh *groupHost) releaseHeld() {
	n := gh.n
	if gh.core == nil {
		return
	}
	if n.leaseHolds() {
		held := gh.held
		gh.held, gh.tickHeld = nil, false
		for _, h := range held {
			if gh.core != nil {
				gh.handle(h.m, h.req)
			}
		}
		if gh.core != nil && gh.loaded && (len(held) > 0 || gh.core.NextDeadlineMs() <= n.instant().MonoMs) {
			gh.refreshTopics()
			gh.core.Tick(gh.now())
			gh.carryOut()
		}
		return
	}
	now := n.instant().MonoMs
	kept := gh.held[:0]
	for _, h := range gh.held {
		if now-h.sinceM >= leaseHoldMs {
			n.w.respond(h.m, groups.ErrorResponse(h.req, kerr.NotCoordinator.Code))
			continue
		}
		kept = append(kept, h)
	}
	gh.held = kept
	if (len(gh.held) > 0 || gh.tickHeld) && !gh.recheckArmed {
		gh.recheckArmed = true
		n.at(n.w.now+leaseRecheckMs, func() {
			gh.recheckArmed = false
			gh.releaseHeld()
		})
	}
}

// answerHeld answers NOT_COORDINATOR to every held request (the
// coordinator stops).
func (gh *groupHost) answerHeld() {
	for _, h := range gh.held {
		gh.n.w.respond(h.m, groups.ErrorResponse(h.req, kerr.NotCoordinator.Code))
	}
	gh.held, gh.tickHeld = nil, false
}
