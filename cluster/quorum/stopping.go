package quorum

import (
	"encoding/binary"
	"math"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// Voters that stop together. A leader that stops gracefully hands its
// leadership on (HandOffLeadership). When the whole cluster goes down
// (`gregor cluster down` stops every node at once) the voter it picked may
// be stopping too: if that voter is past the point where it takes part in
// the quorum, the transfer fails and the leader waits out an election
// timeout for nothing; if it takes the leadership and goes, the quorum
// again has no leader. So a voter tells its leader how far its own stop
// came (Stopping):
//
//   - stopAwaitsController: it stops, and its broker still waits for a
//     controller's answer to its controlled shutdown. It stays up until a
//     controller answers it (or its controlled shutdown times out), so
//     it takes a leadership handed to it, and needs one.
//   - stopLeaving: it stops, and needs no controller any more (its
//     controlled shutdown is over, or it has no broker): it may be gone
//     at any moment.
//
// It says so after the mark it echoes in each answer to the leader's
// heartbeats (markAnswer), and at once in a notice to its leader when its
// stage moves or it follows a new leader while stopping (a
// MsgHeartbeatResp whose context is stopNoticeTag and the stage's tag,
// which the leader takes and never steps; raft steps it harmlessly on a
// node that does not know it: an answer with a context no ReadIndex
// waits for).
//
// A leader handing its leadership on picks, in this order, a voter heard
// from lately that is not stopping (one that did not start lately first,
// transfer_mark.go), one heard from lately whose broker awaits a controller
// (it stays, and the controller it becomes answers the brokers still
// stopping), and a voter not known to stop that it has not heard from
// lately. When none is left, every other voter is stopping and needs no
// controller: a transfer would at best make a leader that goes in a
// moment, at worst (the voter gone before it took it) hold this node an
// election timeout, and no election among voters that go anyway serves
// anybody. So the leader hands its leadership to no one and resigns: it
// tells every other member that it leads no more, with the offset it had
// committed (a resignation notice, stepped by no one), and stops at once.
//
// A member that took the resignation of its leader knows no node leads in
// that term (Leadership.Resigned) until its term moves on: a broker in
// controlled shutdown that sees no other active broker in an image
// holding every offset the leader had committed stops without waiting for
// a controller (cluster.BrokerLifecycle.QuorumResigned).
//
// Nothing here decides anything raft's rules decide: a stage only orders
// the voters a hand-off picks from. A voter that stops without saying so
// (killed, or a gregor that does not know the tags) is one not known to
// stop, as before; a stage is what the voter's last word said, and its
// next answer (a process started again says nothing of a stop) corrects it.

// stopStage is how far a node's graceful stop came.
type stopStage uint8

// The stages, in the order a stop goes through them.
const (
	stopNone stopStage = iota
	stopAwaitsController
	stopLeaving
)

// The tags of the stages, in heartbeat answers and stop notices.
const (
	stopAwaitsControllerTag = 'c'
	stopLeavingTag          = 's'
)

// stopNoticeTag starts the context of a voter's notice of its stage to its
// leader; resignNoticeTag that of a leader's resignation, followed by the
// offset it had committed.
const (
	stopNoticeTag   = 'S'
	resignNoticeTag = 'R'
	resignNoticeLen = 9
)

// tag is the stage's tag, 0 for none.
func (s stopStage) tag() byte {
	switch s {
	case stopAwaitsController:
		return stopAwaitsControllerTag
	case stopLeaving:
		return stopLeavingTag
	}
	return 0
}

// stopStageOfTag is the stage a tag names.
func stopStageOfTag(tag byte) (stopStage, bool) {
	switch tag {
	case stopAwaitsControllerTag:
		return stopAwaitsController, true
	case stopLeavingTag:
		return stopLeaving, true
	}
	return stopNone, false
}

// resignation is the resignation of the leader of term, which had
// committed up to offset, that this node took.
type resignation struct {
	lead, term, offset uint64
}

// stopNotified is the stage this node last told a leader, which and of
// which term.
type stopNotified struct {
	lead, term uint64
	stage      stopStage
}

// Stopping tells the core this node stops gracefully: awaitingController
// while its broker still waits for a controller's answer to its controlled
// shutdown, then false once it does not (at once on a node without a
// broker). A stop only moves on: a later call with awaitingController
// after one without it changes nothing. A voter tells its leader
// (stopping.go), which hands its leadership to a voter that is not
// stopping if it can.
func (q *Quorum) Stopping(awaitingController bool) {
	stage := stopLeaving
	if awaitingController {
		stage = stopAwaitsController
	}
	q.stop = max(q.stop, stage)
}

// stopNoticeDue says this voter owes its leader a notice of its stop
// stage: it stops, and has not told the leader it follows, in this term,
// this stage yet.
func (q *Quorum) stopNoticeDue() bool {
	st := q.rn.BasicStatus()
	if q.stop == stopNone || st.Lead == raft.None || st.Lead == q.self || !q.isVoterSelf() {
		return false
	}
	return (stopNotified{lead: st.Lead, term: st.GetTerm(), stage: q.stop}) != q.stopNotified
}

// stopNotice is the notice stopNoticeDue says is due, noted as sent.
func (q *Quorum) stopNotice() *raftpb.Message {
	st := q.rn.BasicStatus()
	q.stopNotified = stopNotified{lead: st.Lead, term: st.GetTerm(), stage: q.stop}
	return &raftpb.Message{
		Type: raftpb.MsgHeartbeatResp.Enum(), To: proto.Uint64(st.Lead), From: proto.Uint64(q.self), Term: proto.Uint64(st.GetTerm()),
		Context: []byte{stopNoticeTag, q.stop.tag()},
	}
}

// takeStopNotice takes m when it is a voter's notice of its stop stage (to
// this node as its leader, or to one that leads no more: the notice is
// dropped); it says whether m was one.
func (q *Quorum) takeStopNotice(m *raftpb.Message) bool {
	ctx := m.GetContext()
	if m.GetType() != raftpb.MsgHeartbeatResp || len(ctx) != 2 || ctx[0] != stopNoticeTag {
		return false
	}
	if stage, ok := stopStageOfTag(ctx[1]); ok && q.rn.BasicStatus().RaftState == raft.StateLeader {
		q.noteStopStage(nodeID(m.GetFrom()), heartbeatAnswerTags{stop: stage}, math.MaxInt64)
	}
	return true
}

// voterStop is what a voter last said of its stop, and since when (this
// leader's monotonic ms).
type voterStop struct {
	stage   stopStage
	sinceMs int64
}

// noteStopStage keeps what a voter said of its stop: in a notice (sentMs
// math.MaxInt64), or in its answer to a heartbeat sent at sentMs. A stop
// only moves on, and answers overtake notices: an answer that names no
// stop says the voter runs again only when it answers a heartbeat sent
// since this node heard of the stop (the voter would have tagged it), or
// says the voter started lately (a new process).
func (q *Quorum) noteStopStage(node int32, tags heartbeatAnswerTags, sentMs int64) {
	was := q.stoppingVoters[node]
	switch {
	case tags.stop > was.stage:
		q.cfg.Logger.Info("a voter of the metadata quorum is stopping", zap.Int32("voter", node),
			zap.Bool("awaits_controller", tags.stop == stopAwaitsController))
		q.stoppingVoters[node] = voterStop{stage: tags.stop, sinceMs: q.now.MonoMs}
	case tags.stop == stopNone && was.stage != stopNone && (tags.fresh || sentMs != math.MaxInt64 && sentMs >= was.sinceMs):
		delete(q.stoppingVoters, node)
	}
}

// quorumOutlivesStops says whether the voters heard from lately (active)
// that do not stop, or stop while their broker awaits a controller, make
// a majority of the voters without this node: a leader among them could
// commit, and its controller answer the brokers still stopping.
func (q *Quorum) quorumOutlivesStops(st Status, active map[int32]bool) bool {
	staying := 0
	for _, v := range st.Voters {
		if v.NodeID != st.NodeID && active[v.NodeID] && q.stoppingVoters[v.NodeID].stage != stopLeaving {
			staying++
		}
	}
	return staying >= len(st.Voters)/2+1
}

// resign ends this leader's leadership with no successor: every other
// member is told, with the offset this node committed, and the caller
// stops at once (see above).
func (q *Quorum) resign() {
	st := q.rn.BasicStatus()
	commit := st.GetCommit()
	q.hasResigned = true
	ctx := make([]byte, resignNoticeLen)
	ctx[0] = resignNoticeTag
	binary.BigEndian.PutUint64(ctx[1:], commit)
	q.rn.WithProgress(func(id uint64, _ raft.ProgressType, _ tracker.Progress) {
		if id == q.self {
			return
		}
		q.resignNotices = append(q.resignNotices, &raftpb.Message{
			Type: raftpb.MsgHeartbeatResp.Enum(), To: proto.Uint64(id), From: proto.Uint64(q.self), Term: proto.Uint64(st.GetTerm()),
			Context: ctx,
		})
	})
	q.cfg.Logger.Info("every other voter of the metadata quorum is stopping, and none could be the controller the stopping brokers need: resigning the leadership, handing it to no one",
		zap.Uint64("epoch", st.GetTerm()), zap.Uint64("committed_offset", commit))
}

// StoppingAlone says this node leads the quorum, stops itself, and every
// other voter either said it stops and needs no controller (stopLeaving:
// it leaves the quorum moments later, its node closing its CONTROLLER
// listener right after its hand-off) or was not heard from for an
// election timeout (gone, or cut off: raft's check-quorum would depose a
// leader that no majority answers that long): then this node's controller
// commits nothing more, nor does any other before the voters start again.
// committed is this node's commit offset: its image holds every record
// committed. A broker of this node in controlled shutdown that sees no
// other active broker in that image need not wait for the controller
// (cluster.BrokerLifecycle.QuorumResigned), as when its leader resigned.
func (q *Quorum) StoppingAlone() (committed int64, ok bool) {
	if q.stop == stopNone || !q.activeLeader() {
		return 0, false
	}
	for _, v := range q.membership.GetVoters() {
		node := nodeID(v)
		if v == q.self || q.stoppingVoters[node].stage == stopLeaving {
			continue
		}
		if heard, ok := q.lastContact[node]; ok && q.now.MonoMs-heard.MonoMs < q.cfg.ElectionTimeoutMs {
			return 0, false
		}
	}
	return int64(q.rn.BasicStatus().GetCommit()), true
}

// MemberLeaving says whether member said, in its last word to this leader,
// that it stops and needs no controller (a learner's answers to heartbeats
// say so too): it need not hear of a resignation.
func (q *Quorum) MemberLeaving(member int32) bool {
	return q.stoppingVoters[member].stage == stopLeaving
}

// Resigned says this node resigned its leadership (HandOffLeadership
// handed it to no one, every other voter stopping too).
func (q *Quorum) Resigned() bool { return q.hasResigned }

// takeResignNotice takes m when it is a leader's resignation: from the
// leader this node follows, in its term, it knows no node leads until its
// term moves on (Leadership.Resigned). It says whether m was one.
func (q *Quorum) takeResignNotice(m *raftpb.Message) bool {
	ctx := m.GetContext()
	if m.GetType() != raftpb.MsgHeartbeatResp || len(ctx) != resignNoticeLen || ctx[0] != resignNoticeTag {
		return false
	}
	st := q.rn.BasicStatus()
	if st.RaftState == raft.StateLeader || m.GetTerm() != st.GetTerm() || (st.Lead != raft.None && st.Lead != m.GetFrom()) {
		return true
	}
	q.resigned = resignation{lead: m.GetFrom(), term: m.GetTerm(), offset: binary.BigEndian.Uint64(ctx[1:])}
	q.resignedUnreported = true
	return true
}

// resignedNow is the resignation this node took, when its term has not
// moved on since.
func (q *Quorum) resignedNow() (resignation, bool) {
	st := q.rn.BasicStatus()
	r := q.resigned
	return r, r.term != 0 && r.term == st.GetTerm() && st.RaftState != raft.StateLeader
}
