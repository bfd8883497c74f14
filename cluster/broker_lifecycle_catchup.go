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

// holdingFenced says heartbeats ask the controller to keep the broker
// fenced: its image has not reached its replicas yet.
func (b *BrokerLifecycle) holdingFenced() bool { return b.cfg.PublishAfterCatchUp && !b.published }

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
	if !b.cfg.PublishAfterCatchUp || b.state != BrokerRecovery {
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
