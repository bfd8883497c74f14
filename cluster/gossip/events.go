package gossip

import (
	"sync"

	"github.com/hashicorp/serf/serf"
	"go.uber.org/zap"
)

// EventKind is what happened to a member.
type EventKind int

// The kinds of membership events.
const (
	// MemberJoined: a node joined, or came back after a failure or leave.
	MemberJoined EventKind = iota + 1
	// MemberUpdated: a member's tags changed.
	MemberUpdated
	// MemberLeft: a member left gracefully (Leave).
	MemberLeft
	// MemberFailed: a member stopped answering probes; it crashed, hangs
	// or is cut off. A hint, not a verdict.
	MemberFailed
	// MemberReaped: a failed or left member was forgotten.
	MemberReaped
	// NameConflict: another live node claims this node's id, from the
	// address in Member.GossipAddress; it is refused.
	NameConflict
)

// String is the event as logs name it ("joined", ...).
func (k EventKind) String() string {
	switch k {
	case MemberJoined:
		return "joined"
	case MemberUpdated:
		return "updated"
	case MemberLeft:
		return "left"
	case MemberFailed:
		return "failed"
	case MemberReaped:
		return "reaped"
	case NameConflict:
		return "name-conflict"
	}
	return "unknown"
}

// Event is the latest news about one member.
type Event struct {
	Kind   EventKind
	Member Member
}

// eventQueue holds the events not yet delivered, at most one per member (and
// one per conflicting address): a newer event about a member replaces the
// pending one, keeping its place in line. A pending Joined stays Joined when
// an update follows, so that a consumer never learns of a member through an
// update. Its size is bounded by the number of members.
type eventQueue struct {
	mu      sync.Mutex
	pending map[string]Event
	order   []string
	// ready is signalled when an event is queued.
	ready chan struct{}
}

func newEventQueue() *eventQueue {
	return &eventQueue{pending: make(map[string]Event), ready: make(chan struct{}, 1)}
}

// push queues e under key, coalescing with the pending event of key.
func (q *eventQueue) push(key string, e Event) {
	q.mu.Lock()
	if old, ok := q.pending[key]; ok {
		if old.Kind == MemberJoined && e.Kind == MemberUpdated {
			e.Kind = MemberJoined
		}
	} else {
		q.order = append(q.order, key)
	}
	q.pending[key] = e
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes the oldest pending event.
func (q *eventQueue) pop() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return Event{}, false
	}
	key := q.order[0]
	q.order = q.order[1:]
	e := q.pending[key]
	delete(q.pending, key)
	return e, true
}

// drain empties serf's event channel into the queue until Shutdown. It never
// blocks on anything but the queue's lock.
func (n *Node) drain(ch <-chan serf.Event) {
	defer n.stopped.Done()
	serfDown := n.serf.ShutdownCh()
	for {
		select {
		case e := <-ch:
			n.receive(e)
		case <-serfDown:
			serfDown = nil
			select {
			case <-n.stop:
			default:
				n.log.Error("gossip stopped by itself (serf resolved a name conflict against this node)")
				n.reportConflict(Member{Name: NodeName(n.cfg.NodeID), GossipAddress: n.guard.conflict(), Status: StatusAlive})
			}
		case <-n.stop:
			return
		}
	}
}

// receive queues the member events of one serf event.
func (n *Node) receive(e serf.Event) {
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return // user events and queries: not used
	}
	var kind EventKind
	switch me.Type {
	case serf.EventMemberJoin:
		kind = MemberJoined
	case serf.EventMemberUpdate:
		kind = MemberUpdated
	case serf.EventMemberLeave:
		kind = MemberLeft
	case serf.EventMemberFailed:
		kind = MemberFailed
	case serf.EventMemberReap:
		kind = MemberReaped
	default:
		return
	}
	for _, m := range me.Members {
		member, ok := n.member(m)
		if !ok {
			continue
		}
		n.log.Debug("gossip member event", zap.Stringer("kind", kind), zap.Int32("member", member.NodeID),
			zap.String("gossip_address", member.GossipAddress))
		n.events.push(member.Name, Event{Kind: kind, Member: member})
	}
}

// reportConflict queues a NameConflict event about another claimant.
func (n *Node) reportConflict(other Member) {
	other.NodeID = n.cfg.NodeID
	n.events.push("conflict/"+other.GossipAddress, Event{Kind: NameConflict, Member: other})
}

// deliver calls OnEvent with the queued events, in order, until Shutdown.
func (n *Node) deliver() {
	defer n.stopped.Done()
	for {
		e, ok := n.events.pop()
		if !ok {
			select {
			case <-n.events.ready:
				continue
			case <-n.stop:
				return
			}
		}
		if n.cfg.OnEvent != nil {
			n.cfg.OnEvent(e)
		}
		select {
		case <-n.stop:
			return
		default:
		}
	}
}
