package quorum

import "slices"

// A node without a CONTROLLER listener the others know (a broker that
// follows the quorum as a learner) cannot be sent raft messages: the
// others hold them for it (Outbox), and it polls for them (LearnerPoll),
// with an empty frame answered with what the polled node holds for it.
// The decisions live here so that the simulator drives the ones production
// takes (actors/quorum_transport.go carries them out).

// MaxOutboxMessages bounds the raft messages held for one node until it
// polls; the oldest go first, as raft tolerates lost messages.
const MaxOutboxMessages = 1024

// HeldMessage is a serialized raft message held for a node that polls;
// Snapshot says it carries a snapshot (raft must hear of its fate).
type HeldMessage struct {
	Data     []byte
	Snapshot bool
}

// Outbox holds the raft messages for the nodes that poll, up to
// MaxOutboxMessages each.
type Outbox struct {
	boxes map[int32][]HeldMessage
}

// NewOutbox is an empty outbox.
func NewOutbox() *Outbox { return &Outbox{boxes: map[int32][]HeldMessage{}} }

// Hold keeps m for node to; when the box is full its oldest message goes,
// and is returned (ok), for the caller to report a snapshot's loss.
func (o *Outbox) Hold(to int32, m HeldMessage) (dropped HeldMessage, ok bool) {
	box := append(o.boxes[to], m)
	if len(box) > MaxOutboxMessages {
		dropped, ok = box[0], true
		box = box[1:]
	}
	o.boxes[to] = box
	return dropped, ok
}

// Take hands out, and forgets, what is held for node to, oldest first.
func (o *Outbox) Take(to int32) []HeldMessage {
	box := o.boxes[to]
	delete(o.boxes, to)
	return box
}

// LearnerPoll decides which voter a learner polls, one poll out at a time:
// the leader raft knows, unless there is none, it is not a voter, or its
// polls have brought nothing for longer than the timeout (dead, or
// deposed: raft keeps a learner's last known leader until a new leader's
// messages reach it, and those wait at the new leader for the learner's
// poll); then the voters, in turn. A learner that polled nothing for
// longer than the timeout (its process was paused or stalled) does not
// count that time against the leader: it polls the leader once before it
// turns to the voters (which may cost it a poll's timeout when one of
// them does not answer).
type LearnerPoll struct {
	voters    []int32
	timeoutMs int64
	polling   bool
	nextVoter int
	// leader is the leader polled; leaderHeardMs when it was first known
	// or a poll of it last brought messages (a leader sends a learner
	// heartbeats every tick).
	leader        int32
	leaderHeardMs int64
	// endedMs is when the last poll ended (-1: none yet).
	endedMs int64
}

// NewLearnerPoll is the poll of a learner of the quorum of voters; a
// leader silent for longer than timeoutMs is polled no more alone.
func NewLearnerPoll(voters []int32, timeoutMs int64) *LearnerPoll {
	return &LearnerPoll{voters: slices.Clone(voters), timeoutMs: timeoutMs, leader: -1, endedMs: -1}
}

// Poll says which voter to poll now, leaderID being the leader raft knows
// (-1: none); false while a poll is out. Each call that returns a voter
// counts a poll out until Answered or Failed.
func (p *LearnerPoll) Poll(leaderID int32, nowMs int64) (int32, bool) {
	if p.polling || len(p.voters) == 0 {
		return -1, false
	}
	if leaderID != p.leader {
		p.leader, p.leaderHeardMs = leaderID, nowMs
	}
	if p.endedMs >= 0 && nowMs-p.endedMs > p.timeoutMs {
		// The learner itself was silent: the leader gets one poll (it
		// stays the one polled if the poll brings messages).
		p.leaderHeardMs = max(p.leaderHeardMs, nowMs-p.timeoutMs)
	}
	target := leaderID
	if target < 0 || !slices.Contains(p.voters, target) || nowMs-p.leaderHeardMs > p.timeoutMs {
		target = p.voters[p.nextVoter%len(p.voters)]
		p.nextVoter++
	}
	p.polling = true
	return target, true
}

// Answered takes the answer of the poll out, from voter from, which
// carried messages or not; it says whether to poll again at once (it did:
// more may be waiting).
func (p *LearnerPoll) Answered(from int32, messages bool, nowMs int64) bool {
	p.polling, p.endedMs = false, nowMs
	if messages && from == p.leader {
		p.leaderHeardMs = nowMs
	}
	return messages
}

// Failed takes a poll that was not sent or not answered, at time nowMs.
func (p *LearnerPoll) Failed(nowMs int64) { p.polling, p.endedMs = false, nowMs }
