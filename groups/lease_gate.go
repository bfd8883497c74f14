package groups

// LeaseGate decides, for a coordinator's shell, what happens to the
// requests and ticks that come while the node's broker lease has lapsed (the
// shell answers nothing from the core's state then): it holds them instead
// of refusing them at once. A lapse is most often short (a controller slow
// to acknowledge a heartbeat on a loaded machine), and a member whose
// heartbeat was refused with NOT_COORDINATOR looks its coordinator up again
// and heartbeats next only an interval later, so that two refused
// heartbeats end its session (librdkafka's own session timer counts them
// too). Once the lease holds again, the held requests go to the core in
// the order they came, then a held tick, so a member that heartbeated
// through the lapse keeps its session: no session or rebalance deadline
// passes while the members' requests could not reach the core. A request
// held HoldMs while the lease still does not hold is refused
// (NOT_COORDINATOR): a node cut off from the controller for good stops
// answering, and its clients find the coordinator the controller moved the
// group to. The transaction coordinators' shells hold their requests and
// ticks through a LeaseGate too (a transaction's EndTxn during a short
// lapse is answered, and no marker is sent again meanwhile). The zero
// LeaseGate holds DefaultLeaseHoldMs.
type LeaseGate[T any] struct {
	// HoldMs bounds how long a request is held; 0 means
	// DefaultLeaseHoldMs.
	HoldMs int64
	held   []heldRequest[T]
	tick   bool
}

// DefaultLeaseHoldMs is how long a LeaseGate holds a request unless told
// otherwise.
const DefaultLeaseHoldMs = 2000

type heldRequest[T any] struct {
	req    T
	sinceM int64
}

// LeaseGateOutcome is what the shell must do after a LeaseGate call: hand
// Release to the core in order, then tick the core if Tick; refuse each
// of Refuse; look at the lease again soon if Recheck (something is still
// held).
type LeaseGateOutcome[T any] struct {
	Release []T
	Refuse  []T
	Tick    bool
	Recheck bool
}

// Admit takes a request that came at monotonic time nowMs, with the lease
// valid or not then. Behind requests already held, or while the lease does
// not hold, the request is held; the outcome also releases or refuses what
// is due.
func (g *LeaseGate[T]) Admit(req T, leaseValid bool, nowMs int64) LeaseGateOutcome[T] {
	if len(g.held) == 0 && !g.tick && leaseValid {
		return LeaseGateOutcome[T]{Release: []T{req}}
	}
	g.held = append(g.held, heldRequest[T]{req: req, sinceM: nowMs})
	return g.Check(leaseValid, nowMs)
}

// Tick takes a tick of the core that came due: it goes to the core at once
// (Tick in the outcome) when nothing is held and the lease holds, and waits
// for the lease otherwise.
func (g *LeaseGate[T]) Tick(leaseValid bool, nowMs int64) LeaseGateOutcome[T] {
	if len(g.held) == 0 && leaseValid {
		return LeaseGateOutcome[T]{Tick: true}
	}
	g.tick = true
	return g.Check(leaseValid, nowMs)
}

// Check looks at the lease again: when it holds, everything held is
// released, a held tick last; when not, the requests held HoldMs are
// refused.
func (g *LeaseGate[T]) Check(leaseValid bool, nowMs int64) LeaseGateOutcome[T] {
	var out LeaseGateOutcome[T]
	if leaseValid {
		for _, h := range g.held {
			out.Release = append(out.Release, h.req)
		}
		out.Tick = g.tick || len(g.held) > 0
		g.held, g.tick = nil, false
		return out
	}
	bound := g.HoldMs
	if bound <= 0 {
		bound = DefaultLeaseHoldMs
	}
	kept := g.held[:0]
	for _, h := range g.held {
		if nowMs-h.sinceM >= bound {
			out.Refuse = append(out.Refuse, h.req)
			continue
		}
		kept = append(kept, h)
	}
	g.held = kept
	out.Recheck = len(g.held) > 0 || g.tick
	return out
}

// Drop empties the gate (the coordinator stops) and returns the requests
// it held, each to be refused.
func (g *LeaseGate[T]) Drop() []T {
	var out []T
	for _, h := range g.held {
		out = append(out, h.req)
	}
	g.held, g.tick = nil, false
	return out
}

// Holding says whether a tick waits for the lease (the shell does not tick
// the core meanwhile).
func (g *LeaseGate[T]) Holding() bool { return g.tick }
