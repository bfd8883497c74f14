package cluster

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerState is where a broker stands in its lifecycle with the controller
// (Kafka's BrokerState).
type BrokerState int8

// The broker states, in the order a broker goes through them.
const (
	// BrokerStarting: registering with the controller.
	BrokerStarting BrokerState = iota
	// BrokerRecovery: registered and fenced, catching up with the
	// metadata (or fenced again by the controller).
	BrokerRecovery
	// BrokerRunning: unfenced; it may lead partitions and join ISRs.
	BrokerRunning
	// BrokerPendingControlledShutdown: asking the controller to move its
	// leadership away before it stops.
	BrokerPendingControlledShutdown
	// BrokerShuttingDown: the controlled shutdown is over (or was given
	// up): the node stops.
	BrokerShuttingDown
	// BrokerFailed: the controller refused the broker for good (another
	// live broker has its node.id, another cluster); the node must stop.
	BrokerFailed
)

// String is the state as logs name it ("starting", ...).
func (s BrokerState) String() string {
	switch s {
	case BrokerStarting:
		return "starting"
	case BrokerRecovery:
		return "recovery"
	case BrokerRunning:
		return "running"
	case BrokerPendingControlledShutdown:
		return "pending-controlled-shutdown"
	case BrokerShuttingDown:
		return "shutting-down"
	case BrokerFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", int8(s))
}

// BrokerLifecycleConfig is what a broker's lifecycle core is told.
type BrokerLifecycleConfig struct {
	NodeID        int32
	IncarnationID IncarnationID
	// Listeners are the broker's advertised listeners, registered with
	// the controller.
	Listeners []BrokerEndpoint
	// Rack is broker.rack, nil when unset.
	Rack *string
	// HeartbeatIntervalMs is broker.heartbeat.interval.ms. 0 means 2000.
	HeartbeatIntervalMs int64
	// SessionTimeoutMs is broker.session.timeout.ms. 0 means 9000. A
	// registration refused as a duplicate is tried again for this long
	// (and two heartbeat intervals more): the incarnation registered
	// before may be this node's previous process, whose session lapses.
	SessionTimeoutMs int64
	// ControlledShutdownTimeoutMs bounds the controlled shutdown. 0 means
	// SessionTimeoutMs.
	ControlledShutdownTimeoutMs int64
	// RetryBackoffMs is the wait after a request failed. 0 means 100.
	RetryBackoffMs int64
	// PublishAfterCatchUp says the caller holds its metadata image back
	// from its replicas and coordinators until the broker caught up with
	// the metadata log (Ready.CaughtUp), and reports Published once they
	// run on it: until then heartbeats ask to stay fenced and go every
	// catchUpPollMs (Kafka's initial catch-up and readyToUnfence). Off,
	// the broker never asks to stay fenced.
	PublishAfterCatchUp bool
	// WaitRunningMarker says the caller writes a running marker naming
	// each new broker epoch and reports it (RunningMarker): after a
	// registration the broker heartbeats only once it did, and asks to
	// stay fenced while the marker is not written.
	WaitRunningMarker bool
	// PreviousBrokerEpoch is the broker epoch the node's previous process
	// left in its clean shutdown marker, nil when it left none (it
	// crashed, or lost power): the registration carries it, -1 for none,
	// and a controller keeping eligible leader replicas (KIP-966) takes a
	// registration without the registered epoch for an unclean shutdown,
	// after which the broker is no longer eligible to lead.
	PreviousBrokerEpoch *int64
}

// controlledShutdownPollMs is how soon a broker in controlled shutdown asks
// again: the controller answers once the records moving its leadership
// committed, so this only paces waiting for other brokers to catch up.
const controlledShutdownPollMs = 50

// BrokerLifecycle is a broker's side of its registration with the
// controller (Kafka's BrokerLifecycleManager): it registers, heartbeats
// every interval with the metadata offset it applied, follows being fenced
// and unfenced, and on a graceful stop asks for a controlled shutdown until
// the controller says it may stop. It decides what to send and when; the
// caller sends one request at a time (to the active controller), and
// reports its answer. No I/O, clock or goroutines; the caller serialises
// every call.
type BrokerLifecycle struct {
	cfg   BrokerLifecycleConfig
	state BrokerState
	// clusterID is sent in registrations; "" until the node knows it.
	clusterID string
	epoch     int64
	// metadataOffset is the last metadata offset the node applied.
	metadataOffset int64
	// inFlight is the request sent and not yet answered, nil when none.
	inFlight kmsg.Request
	// nextSendMs is when the next request goes (monotonic ms), once none
	// is in flight.
	nextSendMs int64
	// duplicateSinceMs is when the controller first refused the
	// registration as a duplicate, -1 when it did not.
	duplicateSinceMs int64
	// shutdownBeganMs is when the controlled shutdown began;
	// shutdownDeadlineMs when it is given up.
	shutdownBeganMs, shutdownDeadlineMs int64
	// noOtherActive says the metadata applied shows no other broker that
	// may lead (broker_lifecycle_last.go).
	noOtherActive bool
	// resignedOffset is the offset the metadata quorum's last leader had
	// committed when it resigned with no successor, -1 while a leader may
	// lead (QuorumResigned).
	resignedOffset int64
	err            error
	out            BrokerLifecycleReady
	started        bool
	// offlineDirs are the directory ids of the node's offline replicas,
	// sent in every heartbeat (SetOfflineDirectories).
	offlineDirs [][16]byte
	// sentOffset is the metadata offset the heartbeat in flight carries;
	// lastNowMs the time of the last call that told one.
	sentOffset int64
	lastNowMs  int64
	// caughtUp says a heartbeat's answer said the broker's metadata
	// caught up with its registration; published that the caller
	// published that image (Published).
	caughtUp, published bool
	// markerPending says the running marker of a new epoch is not
	// reported yet; markerMissing that the caller could not write it
	// (RunningMarker); markedEpoch is the epoch of the last one written.
	markerPending, markerMissing bool
	markedEpoch                  int64
	// sentMs is when the request in flight was sent (monotonic ms); lease
	// is what the answers to heartbeats granted (broker_lease.go).
	sentMs int64
	lease  BrokerLease
	// resend is the quorum leader last known, to resend a heartbeat stuck
	// at one that is gone (broker_lease.go, QuorumLeader).
	resend heartbeatResend
}

// BrokerLifecycleReady is what the caller must do.
type BrokerLifecycleReady struct {
	// Request is the request to send to the active controller, nil for
	// none; its answer goes to Answered.
	Request kmsg.Request
	// TimeoutMs bounds the request, retries included.
	TimeoutMs int64
	// StateChanged says State moved since the last Ready; Reason says why,
	// for the log.
	StateChanged bool
	Reason       string
	// CaughtUp says the broker has just caught up with the metadata log
	// (once per lifecycle): the image it applied may now reach its
	// replicas and coordinators.
	CaughtUp bool
}

// NewBrokerLifecycle makes a lifecycle that has not started.
func NewBrokerLifecycle(cfg BrokerLifecycleConfig) *BrokerLifecycle {
	if cfg.HeartbeatIntervalMs <= 0 {
		cfg.HeartbeatIntervalMs = defaultBrokerHeartbeatIntervalMs
	}
	if cfg.SessionTimeoutMs <= 0 {
		cfg.SessionTimeoutMs = defaultBrokerSessionTimeoutMs
	}
	if cfg.ControlledShutdownTimeoutMs <= 0 {
		cfg.ControlledShutdownTimeoutMs = cfg.SessionTimeoutMs
	}
	if cfg.RetryBackoffMs <= 0 {
		cfg.RetryBackoffMs = 100
	}
	return &BrokerLifecycle{cfg: cfg, epoch: -1, metadataOffset: -1, duplicateSinceMs: -1, markedEpoch: -1, resignedOffset: -1}
}

// State is where the broker stands.
func (b *BrokerLifecycle) State() BrokerState { return b.state }

// BrokerEpoch is the broker epoch of the registration, -1 before it.
func (b *BrokerLifecycle) BrokerEpoch() int64 { return b.epoch }

// Err says why the broker failed (State BrokerFailed).
func (b *BrokerLifecycle) Err() error { return b.err }

// SetClusterID sets the cluster id registrations carry, once the node
// knows it.
func (b *BrokerLifecycle) SetClusterID(id string) { b.clusterID = id }

// MetadataApplied reports the metadata offset the node has applied (the
// image's LastOffset), which heartbeats carry. A fenced broker in recovery
// that has just caught up with its own registration (the controller
// unfences a broker once its offset reaches its broker epoch) heartbeats at
// once rather than an interval later (Kafka's setReadyToUnfence): call
// Tick when NextDeadline says.
func (b *BrokerLifecycle) MetadataApplied(offset int64) {
	before := b.metadataOffset
	b.metadataOffset = max(b.metadataOffset, offset)
	if b.state == BrokerRecovery && b.inFlight == nil && before < b.epoch && b.metadataOffset >= b.epoch {
		b.nextSendMs = min(b.nextSendMs, b.lastNowMs)
	}
}

// Start begins registering.
func (b *BrokerLifecycle) Start(now Instant) {
	b.lastNowMs = now.MonoMs
	if b.started {
		return
	}
	b.started, b.nextSendMs = true, now.MonoMs
	b.Tick(now)
}

// Tick moves the clock: the next request goes when it is due, and a
// controlled shutdown that took too long ends.
func (b *BrokerLifecycle) Tick(now Instant) {
	b.lastNowMs = now.MonoMs
	if !b.started || b.done() {
		return
	}
	if b.state == BrokerPendingControlledShutdown && now.MonoMs >= b.shutdownDeadlineMs {
		b.moveTo(BrokerShuttingDown, fmt.Sprintf("the controlled shutdown took more than %d ms; stopping without it", b.cfg.ControlledShutdownTimeoutMs))
		return
	}
	if b.stopAsLastBroker(now) {
		return
	}
	if b.inFlight != nil || now.MonoMs < b.nextSendMs {
		return
	}
	if b.state == BrokerStarting {
		b.send(b.registration(), b.cfg.SessionTimeoutMs)
		return
	}
	if b.markerPending {
		return // RunningMarker sends it
	}
	b.sentMs = now.MonoMs
	b.send(b.heartbeat(), max(b.cfg.SessionTimeoutMs/2, b.cfg.HeartbeatIntervalMs))
}

func (b *BrokerLifecycle) done() bool {
	return b.state == BrokerShuttingDown || b.state == BrokerFailed
}

func (b *BrokerLifecycle) send(req kmsg.Request, timeoutMs int64) {
	b.inFlight = req
	b.out.Request, b.out.TimeoutMs = req, timeoutMs
}

func (b *BrokerLifecycle) registration() *kmsg.BrokerRegistrationRequest {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID, req.Rack = b.cfg.NodeID, b.clusterID, b.cfg.IncarnationID, b.cfg.Rack
	req.PreviousBrokerEpoch = -1
	if e := b.cfg.PreviousBrokerEpoch; e != nil {
		req.PreviousBrokerEpoch = *e
	}
	for _, f := range SupportedFeatures() {
		rf := kmsg.NewBrokerRegistrationRequestFeature()
		rf.Name, rf.MinSupportedVersion, rf.MaxSupportedVersion = f.Name, f.MinVersion, f.MaxVersion
		req.Features = append(req.Features, rf)
	}
	for _, e := range b.cfg.Listeners {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port, l.SecurityProtocol = e.Name, e.Host, e.Port, e.SecurityProtocol
		req.Listeners = append(req.Listeners, l)
	}
	return req
}

func (b *BrokerLifecycle) heartbeat() *kmsg.BrokerHeartbeatRequest {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = b.cfg.NodeID, b.epoch, b.metadataOffset
	req.WantShutdown = b.state == BrokerPendingControlledShutdown
	req.WantFence = b.holdingFenced()
	req.OfflineLogDirs = append([][16]byte(nil), b.offlineDirs...)
	b.sentOffset = b.metadataOffset
	return req
}

// Answered reports the answer to the request in flight: the response, or
// err when none came (the controller was unreachable or did not answer in
// time). It is another node's controller's answer (AnsweredLocally takes
// this node's own).
func (b *BrokerLifecycle) Answered(now Instant, resp kmsg.Response, err error) {
	b.answered(now, resp, err, false)
}

// answered is Answered; local says this node's own controller answered.
func (b *BrokerLifecycle) answered(now Instant, resp kmsg.Response, err error, local bool) {
	req := b.inFlight
	if req == nil {
		panic("broker lifecycle: an answer with no request in flight")
	}
	b.lastNowMs = now.MonoMs
	b.inFlight = nil
	if b.done() {
		return
	}
	if err != nil || resp == nil {
		b.nextSendMs = now.MonoMs + b.cfg.RetryBackoffMs
		b.Tick(now)
		return
	}
	switch r := resp.(type) {
	case *kmsg.BrokerRegistrationResponse:
		b.registered(now, r)
	case *kmsg.BrokerHeartbeatResponse:
		b.heartbeated(now, r)
		if r.ErrorCode == 0 && b.unreported(req.(*kmsg.BrokerHeartbeatRequest).OfflineLogDirs) {
			// A directory went offline while this heartbeat was out.
			b.nextSendMs = min(b.nextSendMs, now.MonoMs)
		}
		b.leaseAfterHeartbeat(b.sentMs, r.ErrorCode, r.IsFenced, local)
		b.afterHeartbeat(now, req.(*kmsg.BrokerHeartbeatRequest), r)
	default:
		panic(fmt.Sprintf("broker lifecycle: a %T answers a %T", resp, req))
	}
	b.Tick(now)
}

func (b *BrokerLifecycle) registered(now Instant, r *kmsg.BrokerRegistrationResponse) {
	code := r.ErrorCode
	switch {
	case code == 0:
		b.epoch, b.duplicateSinceMs, b.nextSendMs = r.BrokerEpoch, -1, now.MonoMs
		b.markerPending = b.cfg.WaitRunningMarker && r.BrokerEpoch != b.markedEpoch
		if b.state == BrokerStarting {
			b.moveTo(BrokerRecovery, fmt.Sprintf("registered with broker epoch %d", r.BrokerEpoch))
		}
		if b.state == BrokerPendingControlledShutdown {
			b.nextSendMs = now.MonoMs
		}
	case code == kerr.DuplicateBrokerRegistration.Code:
		if b.duplicateSinceMs < 0 {
			b.duplicateSinceMs = now.MonoMs
		}
		patienceMs := b.cfg.SessionTimeoutMs + 2*b.cfg.HeartbeatIntervalMs
		if now.MonoMs-b.duplicateSinceMs >= patienceMs {
			b.fail(fmt.Errorf("node.id %d is taken by a live broker: the controller refused this broker's registration as a duplicate for %d ms "+
				"(DUPLICATE_BROKER_REGISTRATION); another process runs with node.id %d: stop it, or give this node a node.id of its own (--set node.id=N)",
				b.cfg.NodeID, now.MonoMs-b.duplicateSinceMs, b.cfg.NodeID))
			return
		}
		b.nextSendMs = now.MonoMs + b.cfg.HeartbeatIntervalMs
	case code == kerr.InconsistentClusterID.Code:
		b.fail(fmt.Errorf("the controller refused broker %d's registration: %s: this node's directory (its meta.properties) belongs to cluster %s, "+
			"not the controller's: point log.dirs (and metadata.log.dir) at this node's directory in this cluster, or at an empty one",
			b.cfg.NodeID, errorName(code), b.clusterID))
	case code == kerr.InvalidRegistration.Code, code == kerr.UnsupportedVersion.Code:
		b.fail(fmt.Errorf("the controller refused broker %d's registration: %s", b.cfg.NodeID, errorName(code)))
	default:
		b.nextSendMs = now.MonoMs + b.cfg.RetryBackoffMs
	}
}

func (b *BrokerLifecycle) heartbeated(now Instant, r *kmsg.BrokerHeartbeatResponse) {
	switch r.ErrorCode {
	case 0:
	case kerr.StaleBrokerEpoch.Code:
		// The registration this broker heartbeats for was replaced or
		// removed: register again (the same incarnation keeps its epoch if
		// it is still the registered one).
		b.nextSendMs = now.MonoMs
		b.moveTo(BrokerStarting, fmt.Sprintf("the controller does not know broker epoch %d; registering again", b.epoch))
		return
	default:
		b.nextSendMs = now.MonoMs + b.cfg.RetryBackoffMs
		return
	}
	b.nextSendMs = now.MonoMs + b.cfg.HeartbeatIntervalMs
	switch {
	case b.state == BrokerPendingControlledShutdown && r.ShouldShutdown:
		b.moveTo(BrokerShuttingDown, "the controller moved this broker's leadership away; it may stop")
	case b.state == BrokerPendingControlledShutdown:
		b.nextSendMs = now.MonoMs + min(controlledShutdownPollMs, b.cfg.HeartbeatIntervalMs)
	case b.state == BrokerRecovery && !r.IsFenced:
		b.moveTo(BrokerRunning, fmt.Sprintf("unfenced at metadata offset %d", b.metadataOffset))
	case b.state == BrokerRecovery && b.sentOffset < b.epoch && b.metadataOffset >= b.epoch:
		// The controller saw this broker behind its own registration;
		// it has caught up since: ask to be unfenced now.
		b.nextSendMs = now.MonoMs
	case b.state == BrokerRunning && r.IsFenced:
		b.moveTo(BrokerRecovery, "the controller fenced this broker")
	}
	if b.state == BrokerRecovery && r.IsFenced && !r.IsCaughtUp && b.caughtUp {
		// Fenced while it was away (paused, cut off): the controller
		// unfences it once its metadata reached that fence, usually
		// milliseconds away.
		b.nextSendMs = min(b.nextSendMs, now.MonoMs+catchUpPollMs)
	}
}

// BeginControlledShutdown asks the controller to move this broker's
// leadership away before it stops (Kafka's controlled shutdown). A broker
// that never registered stops at once.
func (b *BrokerLifecycle) BeginControlledShutdown(now Instant) {
	b.lastNowMs = now.MonoMs
	switch b.state {
	case BrokerShuttingDown, BrokerFailed, BrokerPendingControlledShutdown:
		return
	case BrokerStarting:
		b.moveTo(BrokerShuttingDown, "stopping before registering")
		return
	}
	b.shutdownBeganMs, b.shutdownDeadlineMs = now.MonoMs, now.MonoMs+b.cfg.ControlledShutdownTimeoutMs
	b.nextSendMs = now.MonoMs
	b.moveTo(BrokerPendingControlledShutdown, "asking the controller for a controlled shutdown")
	b.Tick(now)
}

// NextDeadline is when Tick next has something to do (monotonic ms);
// false when nothing is due until an answer comes.
func (b *BrokerLifecycle) NextDeadline() (int64, bool) {
	if !b.started || b.done() {
		return 0, false
	}
	next, ok := int64(0), false
	if b.inFlight == nil && !b.markerPending {
		next, ok = b.nextSendMs, true
	}
	if b.state == BrokerPendingControlledShutdown && (!ok || b.shutdownDeadlineMs < next) {
		next, ok = b.shutdownDeadlineMs, true
	}
	if at, last := b.lastBrokerDeadlineMs(); last && (!ok || at < next) {
		next, ok = at, true
	}
	return next, ok
}

// Ready returns what to do since the last call, and forgets it.
func (b *BrokerLifecycle) Ready() BrokerLifecycleReady {
	r := b.out
	b.out = BrokerLifecycleReady{}
	return r
}

func (b *BrokerLifecycle) moveTo(s BrokerState, reason string) {
	b.state = s
	if s != BrokerRunning && s != BrokerPendingControlledShutdown {
		b.lease = NoBrokerLease
	}
	b.out.StateChanged = true
	b.out.Reason = reason
}

func (b *BrokerLifecycle) fail(err error) {
	b.err = err
	b.moveTo(BrokerFailed, err.Error())
}

func errorName(code int16) string {
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
		return err.Error()
	}
	return "no error"
}
