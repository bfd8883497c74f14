package cluster

import "github.com/twmb/franz-go/pkg/kmsg"

// The broker's initial catch-up with the metadata log (Kafka's
// BrokerLifecycleManager isCaughtUp and readyToUnfence). A restarted
// broker's image is the one it persisted before it stopped: acting on it
// would lead partitions and coordinators the cluster has moved away. It
// registers, heartbeats with the offset it applied, and the controller
// answers IsCaughtUp once that offset reaches the broker's registration
// record, which was written after everything the cluster decided while the
// broker was away. Only then does the caller hand its image to replicas and
// coordinators; once they run on it (Published), the broker stops asking
// to stay fenced and the controller unfences it.

// catchUpPollMs is how soon a broker that has not published a caught-up
// image heartbeats again: catching up is usually a matter of milliseconds,
// and the node starts serving only after it.
const catchUpPollMs = 10

// CaughtUp says the controller answered that the broker's metadata caught
// up with its registration, since the lifecycle started.
func (b *BrokerLifecycle) CaughtUp() bool { return b.caughtUp }

// Published reports that the caller's replicas and coordinators run on the
// caught-up image: heartbeats no longer ask to stay fenced, and the next
// goes at once.
func (b *BrokerLifecycle) Published(now Instant) {
	if b.published {
		return
	}
	b.published = true
	if b.inFlight == nil && b.state == BrokerRecovery {
		b.nextSendMs = now.MonoMs
	}
	b.Tick(now)
}

// RunningMarker reports whether the caller wrote the running marker that
// names the broker's current epoch (logstore.WriteBrokerRunning), after a
// registration (WaitRunningMarker). Until it has, heartbeats ask the
// controller to keep the broker fenced: the next process reads the older
// marker, and a registration that names an older epoch counts as clean
// only while the incarnation it replaces was never unfenced (seed 220110:
// a full disk refused the marker, the broker was unfenced and crashed 7 ms
// later without losing anything, and its next process counted as unclean,
// out of the ELR). Once written, the next heartbeat goes at once.
func (b *BrokerLifecycle) RunningMarker(now Instant, written bool) {
	b.markerPending, b.markerMissing = false, !written
	if written {
		b.markedEpoch = b.epoch
		if !b.holdingFenced() && b.inFlight == nil && b.state == BrokerRecovery {
			b.nextSendMs = min(b.nextSendMs, now.MonoMs)
		}
	}
	b.Tick(now)
}

// holdingFenced says heartbeats ask the controller to keep the broker
// fenced: its image has not reached its replicas yet, or its running
// marker is not written.
func (b *BrokerLifecycle) holdingFenced() bool {
	return b.cfg.PublishAfterCatchUp && !b.published || b.markerMissing
}

// afterHeartbeat notes the catch-up a heartbeat's answer reports, and
// heartbeats again soon while the broker waits to be unfenced.
func (b *BrokerLifecycle) afterHeartbeat(now Instant, req *kmsg.BrokerHeartbeatRequest, r *kmsg.BrokerHeartbeatResponse) {
	if r.ErrorCode != 0 || b.done() {
		return
	}
	if !b.caughtUp && (r.IsCaughtUp || !r.IsFenced) {
		b.caughtUp = true
		b.out.CaughtUp = true
	}
	if b.state != BrokerRecovery || !b.cfg.PublishAfterCatchUp && !b.markerMissing {
		return
	}
	switch {
	case req.WantFence && !b.holdingFenced():
		// Published while this heartbeat was out: say so at once.
		b.nextSendMs = now.MonoMs
	case b.holdingFenced():
		b.nextSendMs = min(b.nextSendMs, now.MonoMs+catchUpPollMs)
	}
}
