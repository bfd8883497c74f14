package cluster

import (
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A broker's lease: how long it may go on acting on its own standing with
// the controller without hearing from it. A broker cut off from the
// controller does not learn that it was fenced and that its partitions'
// leadership moved; its partition leaders find out when they cannot
// replicate, but its group and transaction coordinators answer from memory
// (OffsetFetch, a member's assignment) and would serve stale state beside
// the new coordinator. So the coordinators serve only while the lease
// holds (Kafka's brokers have no such bound: see BrokerLifecycle.Lease).
//
// The controller fences a broker no sooner than BrokerFenceAfterMs after
// it last heard from it, by the controller's monotonic clock: after
// broker.session.timeout.ms without a heartbeat (Controller.expired), or
// two heartbeat intervals without one once membership reported the broker
// failed and its connections closed (Controller.failureConfirmed). The
// controller heard the broker's last acknowledged heartbeat no sooner
// than the broker sent it. So from that send, by the broker's clock, the
// controller has not fenced it for BrokerFenceAfterMs, as long as both clocks run at the same rate; the
// lease is shorter by brokerLeaseDriftPermille to cover clocks that do
// not. After the fence, the next leader still has to learn of its
// election and load its partition before it coordinates: the two
// coordinators never answer at once. A controller that becomes active
// starts every broker's session at that moment, so a failover only
// delays fences. A deposed controller that has not noticed yet (it steps
// down within two election timeouts, check-quorum) could still acknowledge
// heartbeats after its successor started the sessions, and a lease from
// such an acknowledgement could outlast the successor's fence: so a
// controller acknowledges a heartbeat only while its quorum leadership is
// known to hold (LeadershipHolds): until then no successor is active, so
// the heartbeat was sent before any successor's sessions started.
//
// One broker is fenced sooner at a failover: the deposed controller's own
// node's (Controller.Predecessor), whose heartbeats that controller
// answered itself. A lease from such an answer holds only while the node's
// quorum leadership is known to hold too (BrokerLease.Valid's
// localHoldUntilMs, read on the same node and clock), so it lapses before
// any successor becomes active; when the controller's node is killed, its
// successor fences it as soon as it is active and knows the node gone
// (gossip's report, its connections closed), instead of two heartbeat
// intervals later.
//
// A node that is the quorum's only voter leads for ever: no successor can
// fence its broker, and its own controller ignores membership's word that
// its own node failed, so the lease its own answers grant runs for the
// session timeout less the drift margin (BrokerSoleVoterLeaseMs). Else a
// one-node cluster's coordinators would send every client away
// (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR) whenever its heartbeats
// stalled for more than two heartbeat intervals under load, from a node
// that cannot lose its leadership.

// brokerLeaseDriftPermille is how much shorter than BrokerFenceAfterMs a
// lease is, in thousandths: it covers a broker's monotonic clock running
// up to 10% slower than the controller's. Real clocks differ by well under
// 0.1%; the simulator's run up to 5% fast or slow each (sim/clock.go), at
// the margin's edge, and its clock-drift plant, beyond it, is caught.
const brokerLeaseDriftPermille = 100

// BrokerFenceAfterMs is the shortest time the controller waits, after it
// last heard from a broker, before it fences it: the session timeout, or
// two heartbeat intervals when membership reports the broker failed (and
// its connections closed).
func BrokerFenceAfterMs(sessionTimeoutMs, heartbeatIntervalMs int64) int64 {
	return min(sessionTimeoutMs, 2*heartbeatIntervalMs)
}

// BrokerLeaseMs is how long a broker's lease lasts from the send of a
// heartbeat the controller acknowledged unfenced.
func BrokerLeaseMs(sessionTimeoutMs, heartbeatIntervalMs int64) int64 {
	fenceAfter := BrokerFenceAfterMs(sessionTimeoutMs, heartbeatIntervalMs)
	return fenceAfter - fenceAfter*brokerLeaseDriftPermille/1000
}

// BrokerSoleVoterLeaseMs is how long a broker's lease lasts from the send
// of a heartbeat its own node's controller acknowledged unfenced, when that
// node is the metadata quorum's only voter. No other controller can ever
// become active then, and a controller never takes membership's or its
// connections' word that its own node failed (Controller.BrokerFailed), so
// it fences its own node's broker only after broker.session.timeout.ms
// without a heartbeat (Controller.expired). Both read the same clock; the
// drift margin is kept all the same. A one-node cluster's broker so keeps
// its lease through a stall of its heartbeats (a starved process, a long
// collection pause) of up to this long, not the two heartbeat intervals
// another node's broker has, and its coordinators keep answering instead
// of sending its clients to a coordinator that is not there.
func BrokerSoleVoterLeaseMs(sessionTimeoutMs int64) int64 {
	return sessionTimeoutMs - sessionTimeoutMs*brokerLeaseDriftPermille/1000
}

// SoleVoterHold is what quorum.Quorum.LeadershipHoldsUntilMs says of the
// metadata quorum's only voter: its leadership holds for ever.
const SoleVoterHold = math.MaxInt64

// BrokerLease is a broker's lease at one moment, an immutable value the
// shells can hand around: whether the controller last acknowledged the
// broker unfenced, and until when (monotonic ms) that still holds. A part
// of it granted by the controller of the broker's own node (a node that
// leads the metadata quorum acknowledges its own heartbeats) holds only
// while that node's quorum leadership holds as well: then every lease a
// deposed controller granted its own node's broker lapsed before its
// successor became active, and the successor may fence that broker as
// soon as it knows it failed (Controller.Predecessor). When that node is
// the quorum's only voter, whose leadership holds for ever, that part
// runs for BrokerSoleVoterLeaseMs instead.
type BrokerLease struct {
	held bool
	// untilMs is until when the answers of other nodes' controllers
	// granted it; localUntilMs, the answers of this node's own, and
	// soleUntilMs the same answers when this node is the only voter.
	untilMs, localUntilMs, soleUntilMs int64
}

// NoBrokerLease is the lease of a broker the controller has not
// acknowledged unfenced (or fenced since).
var NoBrokerLease = BrokerLease{}

// Valid says the broker may still act as the controller last saw it at
// nowMs (monotonic): its coordinators may answer. localHoldUntilMs is
// until when this node's own quorum leadership is known to hold
// (quorum.Quorum.LeadershipHoldsUntilMs; 0 when it does not lead,
// SoleVoterHold when it is the only voter).
func (l BrokerLease) Valid(nowMs, localHoldUntilMs int64) bool {
	switch {
	case !l.held:
		return false
	case nowMs < l.untilMs:
		return true
	case localHoldUntilMs == SoleVoterHold:
		return nowMs < l.soleUntilMs
	}
	return nowMs < l.localUntilMs && nowMs < localHoldUntilMs
}

// UntilMs is when the lease lapses at the latest (monotonic ms), as long
// as this node's quorum leadership holds until localHoldUntilMs (as
// Valid takes it); false when none is held.
func (l BrokerLease) UntilMs(localHoldUntilMs int64) (int64, bool) {
	if localHoldUntilMs == SoleVoterHold {
		return max(l.untilMs, l.soleUntilMs), l.held
	}
	return max(l.untilMs, l.localUntilMs), l.held
}

// extendLease grants the lease from a heartbeat sent at sentMs that the
// controller acknowledged unfenced, local when this node's own controller
// did. Answers can come out of order only across registrations; a later
// send never shortens it.
func (b *BrokerLifecycle) extendLease(sentMs int64, local bool) {
	until := sentMs + BrokerLeaseMs(b.cfg.SessionTimeoutMs, b.cfg.HeartbeatIntervalMs)
	if !b.lease.held {
		b.lease = BrokerLease{held: true}
	}
	if local {
		b.lease.localUntilMs = max(b.lease.localUntilMs, until)
		b.lease.soleUntilMs = max(b.lease.soleUntilMs, sentMs+BrokerSoleVoterLeaseMs(b.cfg.SessionTimeoutMs))
	} else {
		b.lease.untilMs = max(b.lease.untilMs, until)
	}
}

// Lease is the broker's lease now: held from each heartbeat the controller
// answers unfenced, for BrokerLeaseMs from that heartbeat's send; dropped
// at once when the controller answers fenced, no longer knows the broker's
// epoch, or lets it stop after a controlled shutdown. Kafka's
// BrokerLifecycleManager keeps no such bound: a Kafka broker cut off from
// the controller goes on coordinating from its last metadata.
func (b *BrokerLifecycle) Lease() BrokerLease { return b.lease }

// leaseAfterHeartbeat updates the lease from a heartbeat's answer, once the
// state it moved the broker to is known.
func (b *BrokerLifecycle) leaseAfterHeartbeat(sentMs int64, code int16, fenced, local bool) {
	switch {
	case b.state != BrokerRunning && b.state != BrokerPendingControlledShutdown:
		// Fenced, registering again (the controller no longer knows
		// this broker epoch), or let go after a controlled shutdown.
		b.lease = NoBrokerLease
	case code != 0:
		// A failed answer says nothing: the lease runs out by itself.
	case fenced:
		b.lease = NoBrokerLease
	default:
		b.extendLease(sentMs, local)
	}
}

// leadershipHold is how long the controller's quorum leadership is known
// to hold, as its shell last said.
type leadershipHold struct {
	// bounded says the shell tells the controller; a controller never told
	// (the tests of decisions alone) grants leases as long as it leads.
	bounded bool
	untilMs int64
}

// LeadershipHolds tells the controller until when (monotonic ms) no other
// controller can become active (quorum.Quorum.LeadershipHoldsUntilMs,
// read just before a heartbeat is handed to Handle). The controller
// acknowledges a heartbeat only before then: a broker's lease starts when
// it sent the heartbeat, before its successor's sessions started, so every
// lease it grants lapses before the successor may fence the broker. Past
// that time it answers NOT_CONTROLLER (the broker asks the voters again),
// though it still counts the heartbeat as contact with the broker.
func (c *Controller) LeadershipHolds(untilMs int64) {
	c.leadership = leadershipHold{bounded: true, untilMs: untilMs}
}

// grantsLeases says an acknowledgement now may grant a broker lease.
func (c *Controller) grantsLeases(now Instant) bool {
	return !c.leadership.bounded || now.MonoMs < c.leadership.untilMs
}

// heartbeatResend is what the core knows of the quorum's leader, to resend
// a heartbeat stuck at a controller that is gone (QuorumLeader).
type heartbeatResend struct {
	// leader is the quorum leader the broker last knew, valid when known.
	leader int32
	known  bool
}

// QuorumLeader tells the core which node the broker now knows to lead the
// metadata quorum (-1 while an election is on). When it names a new leader
// while a heartbeat is unanswered, most often one sent to a controller
// that died or was cut off, the broker sends a fresh heartbeat at once,
// which the shell routes to the new leader: otherwise it would wait out
// the old heartbeat's timeout (half the session timeout), its lease would
// lapse and its coordinators answer NOT_COORDINATOR for that long at each
// controller failover. The old heartbeat's answer, should one come, is
// dropped (AnsweredTo); the new one's grants the lease from its own send.
// Only a running broker does so (the lease is held only then), with a
// heartbeat in flight that does not ask to stay fenced.
func (b *BrokerLifecycle) QuorumLeader(now Instant, leader int32) {
	b.lastNowMs = now.MonoMs
	moved := leader >= 0 && (!b.resend.known || b.resend.leader != leader)
	if leader >= 0 {
		b.resend = heartbeatResend{leader: leader, known: true}
	}
	if !moved || (b.state != BrokerRunning && b.state != BrokerPendingControlledShutdown) {
		return
	}
	// Only a heartbeat that does not ask to stay fenced: the old one may
	// still reach a controller after the new one, and one asking to stay
	// fenced would fence a broker the new one had unfenced.
	if hb, ok := b.inFlight.(*kmsg.BrokerHeartbeatRequest); !ok || hb.WantFence {
		return
	}
	b.inFlight, b.nextSendMs = nil, now.MonoMs
	b.Tick(now)
}

// AnsweredTo reports the answer to req, as Answered does, unless req is no
// longer the request in flight (QuorumLeader sent a fresh heartbeat in its
// place): then the answer is dropped and AnsweredTo says false.
func (b *BrokerLifecycle) AnsweredTo(now Instant, req kmsg.Request, resp kmsg.Response, err error) bool {
	return b.answeredTo(now, req, resp, err, false)
}

// AnsweredLocally is AnsweredTo for an answer of this node's own
// controller: the lease it grants holds only while this node's quorum
// leadership does (BrokerLease.Valid). A shell must say which answers are
// its own node's: a successor controller fences this node's broker sooner
// for it.
func (b *BrokerLifecycle) AnsweredLocally(now Instant, req kmsg.Request, resp kmsg.Response, err error) bool {
	return b.answeredTo(now, req, resp, err, true)
}

func (b *BrokerLifecycle) answeredTo(now Instant, req kmsg.Request, resp kmsg.Response, err error, local bool) bool {
	if req == nil || b.inFlight != req {
		b.lastNowMs = now.MonoMs
		return false
	}
	b.answered(now, resp, err, local)
	return true
}
