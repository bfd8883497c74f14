package actors

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

// The members a graceful stop's drain waits for (shutdown_drain.go).

// memberKey names a group member: its group and member id.
type memberKey struct{ group, member string }

// memberKeyOf is the key of the member sending body (a membershipRequest).
// A first join carries no member id yet: its key's member is empty, and
// the drain does not count it (it is answered at once, MEMBER_ID_REQUIRED,
// or waits in the coordinator, which answers it NOT_COORDINATOR when the
// coordinator moves; the member's next requests carry its id).
func memberKeyOf(body kmsg.Request) memberKey {
	var k memberKey
	switch r := body.(type) {
	case *kmsg.JoinGroupRequest:
		k.group, k.member = r.Group, r.MemberID
	case *kmsg.SyncGroupRequest:
		k.group, k.member = r.Group, r.MemberID
	case *kmsg.HeartbeatRequest:
		k.group, k.member = r.Group, r.MemberID
	case *kmsg.ConsumerGroupHeartbeatRequest:
		k.group, k.member = r.Group, r.MemberID
	}
	return k
}

// memberSeen is when a member last sent a request of its own to a
// coordinator here, on which connection, with which client id; how far
// apart its last heartbeats here came; and whether an offset commit of
// its was answered NOT_COORDINATOR since.
type memberSeen struct {
	conn   *netio.ConnInfo
	client string
	lastMs int64
	// heartbeatMs is when its last heartbeat came (0: none yet);
	// heartbeatGapMs the larger of the gaps between its last three
	// (0: fewer than two), lastGapMs the last of them.
	heartbeatMs, heartbeatGapMs, lastGapMs int64
	// intervalMs is the heartbeat interval the coordinator told the
	// member (KIP-848's ConsumerGroupHeartbeat answer), 0 when none did.
	intervalMs int64
	// commitTold says an offset commit of the member was answered
	// NOT_COORDINATOR after its last request of its own here.
	commitTold bool
}

// learnedElsewhere says the member learned its coordinator moved without
// a request of its own being told so here, and heartbeats to the new
// coordinator: its offset commit was told, and no heartbeat of its came
// here since its last one for half as long again as its heartbeats came
// apart. franz-go's and kafka-python's members learn the move from their
// commit and look their coordinator up at once. sarama's heartbeat loop
// keeps the client's cached coordinator until a heartbeat fails, or its
// offset manager, whose refused commit stays due, looks the coordinator
// up at its next commit (every second by default): before that, its next
// heartbeat comes here, on time, and is told here.
//
// A member's heartbeat interval is what the coordinator told it (KIP-848),
// else how far apart its heartbeats came here, counting the end of its
// last rebalance (its SyncGroup's answer, after which a classic member's
// heartbeats start again one interval later) as a heartbeat: so a member
// that joined just before the stop and heartbeated once here is let go
// too, not waited for until the drain's bound.
func (m *memberSeen) learnedElsewhere(nowMs int64) bool {
	gapMs := max(m.heartbeatGapMs, m.intervalMs)
	return m.commitTold && gapMs > 0 && m.lastMs != toldMs &&
		nowMs >= m.lastMs+gapMs+gapMs/2
}

// coordinatorConns keeps when each group member last sent its own request
// to a group coordinator of this node and, during a drain, which of those
// were not answered NOT_COORDINATOR to one yet.
type coordinatorConns struct {
	mu   sync.Mutex
	seen map[memberKey]*memberSeen
	// byConn are, per connection (watched: its close forgets its
	// members), the last member of each group that sent on it. A new
	// member id of a group on a connection replaces the last (the client
	// joined again with a new id: the old one will not be heard again).
	byConn map[*netio.ConnInfo]map[string]memberKey
	// draining: pending are the members the drain waits for; drained
	// closes when none is left.
	draining bool
	pending  map[memberKey]struct{}
	drained  chan struct{}
}

// sent notes that the member k sent a request of its own on conn to a
// coordinator here at nowMs, from client.
func (cc *coordinatorConns) sent(conn *netio.ConnInfo, k memberKey, client string, nowMs int64) {
	if conn == nil || k.member == "" {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.seen == nil {
		cc.seen, cc.byConn = map[memberKey]*memberSeen{}, map[*netio.ConnInfo]map[string]memberKey{}
	}
	groups, ok := cc.byConn[conn]
	if !ok {
		groups = map[string]memberKey{}
		cc.byConn[conn] = groups
		if closed := conn.Closed(); closed.Done() != nil {
			context.AfterFunc(closed, func() { cc.closed(conn) })
		}
	}
	if prev, ok := groups[k.group]; ok && prev != k {
		cc.forget(prev)
	}
	groups[k.group] = k
	m := cc.seen[k]
	if m == nil {
		m = &memberSeen{}
		cc.seen[k] = m
	}
	m.conn, m.client, m.lastMs, m.commitTold = conn, client, nowMs, false
}

// heartbeated notes that the member k, just noted (sent), sent a heartbeat
// at nowMs.
func (cc *coordinatorConns) heartbeated(k memberKey, nowMs int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	m := cc.seen[k]
	if m == nil {
		return
	}
	if m.heartbeatMs > 0 {
		gap := nowMs - m.heartbeatMs
		m.heartbeatGapMs, m.lastGapMs = max(gap, m.lastGapMs), gap
	}
	m.heartbeatMs = nowMs
}

// commitTold notes that an offset commit of the member k was answered
// NOT_COORDINATOR (memberSeen.learnedElsewhere).
func (cc *coordinatorConns) commitTold(k memberKey) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if m := cc.seen[k]; m != nil {
		m.commitTold = true
	}
}

// left notes that members of group left it (LeaveGroup): they will not
// be heard again.
func (cc *coordinatorConns) left(group string, members []string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, m := range members {
		cc.forget(memberKey{group, m})
	}
}

// forget drops k; called under cc.mu.
func (cc *coordinatorConns) forget(k memberKey) {
	delete(cc.seen, k)
	cc.release(k)
}

// told notes that the member k's request was answered NOT_COORDINATOR (no
// coordinator of its group here): it went to look for its coordinator
// elsewhere, and a drain does not wait for it unless it comes back to a
// coordinator here.
func (cc *coordinatorConns) told(k memberKey) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if m, known := cc.seen[k]; known {
		m.lastMs = toldMs
	}
	cc.release(k)
}

// toldMs marks a member told its coordinator moved (coordinatorConns.told).
const toldMs = math.MinInt64

// closed forgets the members whose last request came on a connection that
// closed.
func (cc *coordinatorConns) closed(conn *netio.ConnInfo) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, k := range cc.byConn[conn] {
		if m := cc.seen[k]; m != nil && m.conn == conn {
			cc.forget(k)
		}
	}
	delete(cc.byConn, conn)
}

// release takes k off the drain's list; called under cc.mu.
func (cc *coordinatorConns) release(k memberKey) {
	if !cc.draining {
		return
	}
	if _, ok := cc.pending[k]; ok {
		delete(cc.pending, k)
		if len(cc.pending) == 0 {
			close(cc.drained)
		}
	}
}

// beginDrain lists the members that sent a request of their own to a
// coordinator here within windowMs before nowMs and whose group's
// coordinator moved to another live broker (movedAway); drained closes
// once each was told, its connection closed, or its coordinator was found
// to have gone nowhere (recheck). It returns how many there are.
func (cc *coordinatorConns) beginDrain(nowMs, windowMs int64, movedAway func(group string) bool) (drained <-chan struct{}, waiting int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.draining, cc.drained, cc.pending = true, make(chan struct{}), map[memberKey]struct{}{}
	for k, m := range cc.seen {
		if m.lastMs != toldMs && nowMs-m.lastMs <= windowMs && movedAway(k.group) {
			cc.pending[k] = struct{}{}
		}
	}
	if len(cc.pending) == 0 {
		close(cc.drained)
	}
	return cc.drained, len(cc.pending)
}

// recheck stops waiting for the members whose group's coordinator no
// longer moved to another live broker (the broker that took it is
// stopping too), and for those that learned of the move elsewhere by
// nowMs (memberSeen.learnedElsewhere).
// It returns the members let go for the second reason, named as notTold
// names them.
func (cc *coordinatorConns) recheck(nowMs int64, movedAway func(group string) bool) (learned []string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for k := range cc.pending {
		m := cc.seen[k]
		switch {
		case !movedAway(k.group):
			cc.release(k)
		case m != nil && m.learnedElsewhere(nowMs):
			learned = append(learned, cc.name(k))
			cc.release(k)
		}
	}
	slices.Sort(learned)
	return learned
}

// notTold names the members a drain still waits for: the peer's address
// and client id of each one's last request, its group and member id, sorted.
func (cc *coordinatorConns) notTold() []string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	names := make([]string, 0, len(cc.pending))
	for k := range cc.pending {
		names = append(names, cc.name(k))
	}
	slices.Sort(names)
	return names
}

// name is the peer's address and client id of k's last request, its group
// and member id; called under cc.mu.
func (cc *coordinatorConns) name(k memberKey) string {
	addr, client := "?", ""
	if m := cc.seen[k]; m != nil {
		if m.conn.RemoteAddr != nil {
			addr = m.conn.RemoteAddr.String()
		}
		client = m.client
	}
	return addr + " " + client + " " + k.group + " " + k.member
}

// leavingMembers are the member ids a LeaveGroup names (one before v3, a
// list since).
func leavingMembers(r *kmsg.LeaveGroupRequest) []string {
	if r.Version < 3 {
		return []string{r.MemberID}
	}
	ids := make([]string, 0, len(r.Members))
	for _, m := range r.Members {
		ids = append(ids, m.MemberID)
	}
	return ids
}
