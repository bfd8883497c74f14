package cluster

import "fmt"

// The last broker standing. A broker in controlled shutdown waits for the
// controller to move its leadership away. When the metadata it applied
// shows no other broker that may lead (every other one fenced or shutting
// down itself, as when a whole cluster goes down), there is nowhere to move
// it: the controller can only make its partitions leaderless, and it says
// so at once (Controller.brokerHeartbeat). But the metadata quorum may have
// gone with the other nodes, and then no controller answers at all: the
// broker waited out ControlledShutdownTimeoutMs. So with no other active
// broker it waits for the controller's answer one heartbeat interval from
// the start of its controlled shutdown, and then stops without it. A broker
// that sees another active broker still waits for the controller, as long
// as the timeout allows: its leadership can move.
//
// It stops at once, without waiting that interval, when it also knows no
// controller can answer, and the metadata it applied holds every offset
// any controller committed, so no record the broker has not seen makes
// another broker active. Its node's quorum core knows it (stopping.go in
// cluster/quorum) when:
//
//   - the quorum's last leader resigned: it stopped gracefully while every
//     other voter was stopping too, and handed its leadership to no one
//     (quorum.Leadership.Resigned, learned from the leader's resignation
//     notice and held until the term moves on); any controller still to
//     come would be elected among voters that are all stopping, an
//     election timeout later at the soonest;
//   - or this node leads the quorum, stops, and every other voter said it
//     stops and needs no controller (quorum.Quorum.StoppingAlone): they
//     leave the quorum moments later, and this node's controller then
//     commits nothing, its answer included.

// QuorumResigned tells the core the offset past which no controller
// commits (above: the quorum's last leader resigned having committed it,
// or this node leads alone among stopping voters), or, with a negative
// offset, that a controller may (the quorum's term moved on). Until told,
// the core assumes one may.
func (b *BrokerLifecycle) QuorumResigned(now Instant, offset int64) {
	b.lastNowMs = now.MonoMs
	b.resignedOffset = offset
	b.Tick(now)
}

// noControllerToCome says the broker knows no controller can answer, and
// that the metadata it applied is whole (see above).
func (b *BrokerLifecycle) noControllerToCome() bool {
	return b.resignedOffset >= 0 && b.metadataOffset >= b.resignedOffset
}

// OtherBrokersActive reports whether the metadata the node applied shows a
// registered broker other than this one that may lead: unfenced and not in
// controlled shutdown (MetadataImage.ActiveBrokerOtherThan). Until told,
// the lifecycle assumes one does. Call Tick when NextDeadline says.
func (b *BrokerLifecycle) OtherBrokersActive(active bool) { b.noOtherActive = !active }

// lastBrokerDeadlineMs is when a broker in controlled shutdown that sees no
// other active broker stops without the controller's answer; false when
// none applies.
func (b *BrokerLifecycle) lastBrokerDeadlineMs() (int64, bool) {
	if b.state != BrokerPendingControlledShutdown || !b.noOtherActive {
		return 0, false
	}
	if b.noControllerToCome() {
		return b.shutdownBeganMs, true
	}
	return min(b.shutdownBeganMs+b.cfg.HeartbeatIntervalMs, b.shutdownDeadlineMs), true
}

// stopAsLastBroker ends the controlled shutdown of a broker that sees no
// other active broker once its wait is over; it says whether it did.
func (b *BrokerLifecycle) stopAsLastBroker(now Instant) bool {
	at, ok := b.lastBrokerDeadlineMs()
	if !ok || now.MonoMs < at {
		return false
	}
	if b.noControllerToCome() {
		b.moveTo(BrokerShuttingDown, fmt.Sprintf(
			"no other broker is active to take this broker's leadership, and no controller is left to commit past offset %d, "+
				"which this broker applied (the metadata quorum's voters are all stopping); stopping without its answer", b.resignedOffset))
		return true
	}
	b.moveTo(BrokerShuttingDown, fmt.Sprintf(
		"no other broker is active to take this broker's leadership, and no controller answered within %d ms; stopping without it",
		now.MonoMs-b.shutdownBeganMs))
	return true
}

// ActiveBrokerOtherThan says a registered broker other than id is active
// (unfenced, not in controlled shutdown) in m: one that may lead.
func (m *MetadataImage) ActiveBrokerOtherThan(id int32) bool {
	for b := range m.Brokers() {
		if b.ID != id && b.Active() {
			return true
		}
	}
	return false
}
