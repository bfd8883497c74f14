package cluster

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerSession is what the controller knows of a broker's heartbeats. It
// lives in memory only: a new controller starts every registered broker
// with a fresh one.
type brokerSession struct {
	// lastContactMs is when the broker last registered or heartbeated
	// (monotonic ms).
	lastContactMs int64
	// metadataOffset is the CurrentMetadataOffset of its last heartbeat,
	// -1 before the first.
	metadataOffset int64
	// shutdownOffset is the offset of the last record that moved the
	// broker into controlled shutdown, -1 when it is not shutting down.
	shutdownOffset int64
	// suspectedAtMs is when membership last reported the broker failed,
	// -1 when no report stands (a heartbeat clears it).
	suspectedAtMs int64
	// unfenceFrom is the metadata offset a fenced broker must have
	// applied to be unfenced besides its registration (-1: none): the
	// record of a fence it did not ask for (fenceLapsed), or, for a
	// broker fenced when this controller became active, the committed
	// offset then.
	unfenceFrom int64
	// connsClosed says the shell reported every connection of the
	// broker's node to this controller's node closed since the broker
	// last contacted it (BrokerConnectionsClosed; a heartbeat clears it).
	connsClosed bool
	// heard says this controller heard from the broker's incarnation
	// itself (a registration or heartbeat), not only from the log: a
	// session a new controller started for every registered broker does
	// not make the registered incarnation live enough to refuse a new one.
	heard bool
	// offlineDirs are the directory ids of the broker's offline replicas
	// its last heartbeat reported (replicaOffline).
	offlineDirs [][16]byte
}

// reportsOnlineAgain says a heartbeat listing offline no longer lists some
// directory the session's last heartbeat did.
func (s *brokerSession) reportsOnlineAgain(offline [][16]byte) bool {
	for _, id := range s.offlineDirs {
		if !slices.Contains(offline, id) {
			return true
		}
	}
	return false
}

func newBrokerSession(now Instant) *brokerSession {
	return &brokerSession{lastContactMs: now.MonoMs, metadataOffset: -1, shutdownOffset: -1, suspectedAtMs: -1, unfenceFrom: -1}
}

// heardBrokerSession is the session of a broker that just contacted the
// controller.
func heardBrokerSession(now Instant) *brokerSession {
	s := newBrokerSession(now)
	s.heard = true
	return s
}

// brokerState is where a broker stands in Kafka's heartbeat state machine
// (BrokerControlState).
type brokerState int8

const (
	stateFenced brokerState = iota
	stateUnfenced
	stateControlledShutdown
	stateShutdownNow
)

func (s brokerState) fenced() bool { return s == stateFenced || s == stateShutdownNow }

// expired says the session lapsed: no heartbeat for longer than
// broker.session.timeout.ms.
func (c *Controller) expired(s *brokerSession, nowMs int64) bool {
	return nowMs-s.lastContactMs > c.cfg.BrokerSessionTimeoutMs
}

// failureConfirmed says the broker's process is gone: membership reported
// broker id failed, its node's connections to this controller's node all
// closed (BrokerConnectionsClosed), and the broker has not heartbeated
// since, for two heartbeat intervals. Gossip alone never fences a broker
// the controller still hears from, nor one whose connections stay open: a
// stopped or stalled process (SIGSTOP, a long pause under load) keeps its
// partitions until broker.session.timeout.ms, as in Kafka, while a killed
// one, whose kernel closes its connections, is fenced within seconds.
// Brokers' leases rely on these two waits (BrokerFenceAfterMs): a shorter
// one breaks TestBrokerLeaseLapsesBeforeFence. The broker of the quorum's
// previous leader, which has not contacted this controller, is confirmed
// sooner (Predecessor).
func (c *Controller) failureConfirmed(id int32, s *brokerSession, nowMs int64) bool {
	if s.suspectedAtMs < 0 || !s.connsClosed {
		return false
	}
	return nowMs-s.lastContactMs >= 2*c.cfg.BrokerHeartbeatIntervalMs || c.predecessorFenceable(id, s) && nowMs >= c.predecessor.fenceFromMs
}

// predecessorLeader is the node that led the metadata quorum in the term
// before this controller's (noBroker when unknown), and from when its
// broker may be fenced without waiting for its session here.
type predecessorLeader struct {
	node        int32
	fenceFromMs int64
}

// Predecessor tells a controller that just became active (at now) that
// node was the last metadata quorum leader before it that became active
// (quorum.Leadership's Predecessor), and that this node followed it from
// followedSinceMs (monotonic ms).
//
// Every lease that node's broker got from its own node's controller held
// only while that leadership did (BrokerLease), so all of them lapsed
// before this controller became active; any other lease it held was
// granted before that leadership began, before followedSinceMs, and lapsed
// within BrokerFenceAfterMs. So once membership reports the broker failed
// and its connections closed (failureConfirmed: a node that only stalled
// keeps its partitions), and it has not contacted this controller since
// it became active, it is
// fenced from followedSinceMs plus two heartbeat intervals on, not two
// heartbeat intervals after this controller became active: when the
// controller's node is killed, its broker is fenced (and its partitions'
// leadership moves) as soon as the new controller is active and knows it
// gone, about a second sooner. Both the quorum, which elected
// another leader because a majority stopped hearing from that node, and
// gossip then report it gone.
func (c *Controller) Predecessor(now Instant, node int32, followedSinceMs int64) {
	if !c.active {
		return
	}
	c.predecessor = predecessorLeader{node: node, fenceFromMs: followedSinceMs + 2*c.cfg.BrokerHeartbeatIntervalMs}
	c.fenceLapsed(now)
}

// predecessorFenceable says broker id is the previous quorum leader's,
// which this controller has not heard from (Predecessor).
func (c *Controller) predecessorFenceable(id int32, s *brokerSession) bool {
	return id >= 0 && id == c.predecessor.node && !s.heard
}

// registerBroker decides a BrokerRegistration request.
func (c *Controller) registerBroker(now Instant, r *kmsg.BrokerRegistrationRequest) decision {
	resp := r.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	resp.BrokerEpoch = -1
	refuse := func(err *kerr.Error, format string, args ...any) decision {
		resp.ErrorCode = err.Code
		return decision{response: resp, reason: fmt.Sprintf(format, args...)}
	}
	clusterID := c.working.ClusterID()
	if clusterID == "" {
		clusterID = c.cfg.ClusterID
	}
	if clusterID != "" && r.ClusterID != "" && r.ClusterID != clusterID {
		return refuse(kerr.InconsistentClusterID, "broker %d belongs to cluster %q, this is cluster %q", r.BrokerID, r.ClusterID, clusterID)
	}
	if r.BrokerID < 0 {
		return refuse(kerr.InvalidRegistration, "broker id %d is negative", r.BrokerID)
	}
	endpoints := make([]BrokerEndpoint, 0, len(r.Listeners))
	for _, l := range r.Listeners {
		endpoints = append(endpoints, BrokerEndpoint{Name: l.Name, Host: l.Host, Port: l.Port, SecurityProtocol: l.SecurityProtocol})
	}
	slices.SortFunc(endpoints, func(a, b BrokerEndpoint) int { return cmp.Compare(a.Name, b.Name) })
	for i := 1; i < len(endpoints); i++ {
		if endpoints[i].Name == endpoints[i-1].Name {
			return refuse(kerr.InvalidRegistration, "broker %d lists listener %s twice", r.BrokerID, endpoints[i].Name)
		}
	}
	w := c.working
	features := registrationFeatures(r)
	if why := unsupportedFinalized(w, features); why != "" {
		return refuse(kerr.UnsupportedVersion, "broker %d cannot run the cluster's feature levels: %s", r.BrokerID, why)
	}
	rec := RegisterBrokerRecord{BrokerID: r.BrokerID, IncarnationID: r.IncarnationID, Endpoints: endpoints, Rack: r.Rack, Fenced: true,
		Features: features}
	old, registered := w.Broker(r.BrokerID)
	if registered && old.IncarnationID == r.IncarnationID {
		// The same process registering again: its epoch and state stay.
		c.touch(r.BrokerID, now)
		resp.BrokerEpoch = old.Epoch
		rec.BrokerEpoch, rec.Fenced, rec.InControlledShutdown, rec.CleanFrom = old.Epoch, old.Fenced, old.InControlledShutdown, old.CleanFrom
		if slices.Equal(old.Endpoints, endpoints) && sameRack(old.Rack, r.Rack) && slices.Equal(old.Features, features) {
			return decision{response: resp}
		}
		return decision{records: []MetadataRecord{rec}, response: resp}
	}
	if registered && !old.Fenced {
		// Only an incarnation this controller has heard from is live: after
		// a controller failover (or a restart of a node that is its own
		// controller) the registered incarnation may be the process that
		// just restarted, and waiting for its session would stall it.
		if s := c.sessions[r.BrokerID]; s != nil && s.heard && !c.expired(s, now.MonoMs) {
			return refuse(kerr.DuplicateBrokerRegistration,
				"broker %d is registered by a live broker (incarnation %s, broker epoch %d, last heartbeat %d ms ago); a second broker with node.id %d is refused until that one stops heartbeating for %d ms",
				r.BrokerID, old.IncarnationID, old.Epoch, now.MonoMs-s.lastContactMs, r.BrokerID, c.cfg.BrokerSessionTimeoutMs)
		}
	}
	var recs []MetadataRecord
	// A clean shutdown names the registered epoch; or the epoch the
	// registered incarnation was accepted clean from, when that one never
	// got unfenced (it died before it learned its own epoch, touching
	// nothing, and left the older one in the shutdown marker); or, for a
	// broker unregistered since, either epoch its last registration had
	// then (seed 364006: an incarnation registered clean from 519 as 550,
	// stopped before it learned 550, was unregistered, and the next one
	// named 519).
	unregisteredEpoch, unregistered := w.UnregisteredEpoch(r.BrokerID)
	unregisteredCleanFrom := w.UnregisteredCleanFrom(r.BrokerID)
	clean := r.PreviousBrokerEpoch >= 0 && (registered && (r.PreviousBrokerEpoch == old.Epoch ||
		old.Fenced && old.CleanFrom != nil && r.PreviousBrokerEpoch == *old.CleanFrom) ||
		!registered && unregistered && (r.PreviousBrokerEpoch == unregisteredEpoch ||
			unregisteredCleanFrom != nil && r.PreviousBrokerEpoch == *unregisteredCleanFrom))
	if clean && elrEnabled(w) {
		rec.CleanFrom = &r.PreviousBrokerEpoch
	}
	switch {
	case elrEnabled(w) && !clean:
		// Not the epoch the previous incarnation left in its clean
		// shutdown marker (KIP-966), or no epoch to compare with: it may
		// have stopped uncleanly, so it leaves every ISR and ELR, and its
		// leadership moves, as Kafka's registerBroker does for every new
		// incarnation.
		recs = c.uncleanShutdownUpdates(w, r.BrokerID)
	case registered && old.Active():
		// The previous incarnation's session lapsed but it was not fenced
		// yet: its leadership and ISR places go first.
		recs = c.leaderAndISRUpdates(w, r.BrokerID, noBroker, inISR(r.BrokerID))
	}
	rec.BrokerEpoch = w.Epoch + int64(len(recs))
	recs = append(recs, rec)
	c.sessions[r.BrokerID] = heardBrokerSession(now)
	resp.BrokerEpoch = rec.BrokerEpoch
	return decision{records: recs, response: resp}
}

func sameRack(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// touch records contact with a broker.
func (c *Controller) touch(id int32, now Instant) {
	s := c.sessions[id]
	if s == nil {
		s = newBrokerSession(now)
		c.sessions[id] = s
	}
	s.lastContactMs, s.heard, s.connsClosed = now.MonoMs, true, false
}

// brokerHeartbeat decides a BrokerHeartbeat request: the session goes on,
// and the broker moves through Kafka's states (fenced, unfenced, controlled
// shutdown, shut down now).
func (c *Controller) brokerHeartbeat(now Instant, r *kmsg.BrokerHeartbeatRequest) decision {
	resp := r.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	w := c.working
	b, ok := w.Broker(r.BrokerID)
	if !ok || b.Epoch != r.BrokerEpoch {
		resp.ErrorCode, resp.IsFenced = kerr.StaleBrokerEpoch.Code, true
		reason := fmt.Sprintf("broker %d is not registered", r.BrokerID)
		if ok {
			reason = fmt.Sprintf("broker %d heartbeated with broker epoch %d; its registration has %d", r.BrokerID, r.BrokerEpoch, b.Epoch)
		}
		return decision{response: resp, reason: reason}
	}
	c.touch(r.BrokerID, now)
	s := c.sessions[r.BrokerID]
	s.suspectedAtMs = -1
	backOnline := s.reportsOnlineAgain(r.OfflineLogDirs)
	s.offlineDirs = slices.Clone(r.OfflineLogDirs)
	if !c.grantsLeases(now) {
		resp.ErrorCode = kerr.NotController.Code
		return decision{response: resp, reason: fmt.Sprintf(
			"this controller's quorum leadership is not known to hold past %d ms (now %d ms): another controller may be active, and an acknowledgement could grant broker %d a lease that outlasts its fence there",
			c.leadership.untilMs, now.MonoMs, r.BrokerID)}
	}
	current := stateUnfenced
	switch {
	case s.shutdownOffset >= 0:
		current = stateControlledShutdown
	case b.Fenced:
		current = stateFenced
	}
	next := c.nextState(current, b, s, r)
	var recs []MetadataRecord
	if next != current {
		switch next {
		case stateFenced, stateShutdownNow:
			if !b.Fenced {
				recs = c.fenceRecords(w, b)
			}
		case stateUnfenced:
			recs = c.unfenceRecords(w, b)
		case stateControlledShutdown:
			recs = c.controlledShutdownRecords(w, b)
		}
	}
	if !next.fenced() {
		recs = append(recs, c.offlineReplicaRecords(w, b.ID, r.OfflineLogDirs)...)
	}
	recs = append(recs, offlineDirsRecords(w, b, r.OfflineLogDirs)...)
	if next == stateUnfenced && current == stateUnfenced && backOnline {
		// A replica of the broker is online again: a partition left
		// without a leader it may now lead elects one.
		recs = append(recs, c.leaderAndISRUpdates(w, noBroker, noBroker, func(p PartitionImage) bool {
			return p.Leader < 0 && slices.Contains(p.Replicas, b.ID)
		})...)
	}
	s.metadataOffset = r.CurrentMetadataOffset
	if next.fenced() {
		s.shutdownOffset = -1
	}
	if next == stateControlledShutdown && s.shutdownOffset < 0 {
		s.shutdownOffset = w.Epoch + int64(len(recs)) - 1
	}
	resp.IsCaughtUp = r.CurrentMetadataOffset >= c.unfenceOffset(b, s)
	resp.IsFenced = next.fenced()
	resp.ShouldShutdown = next == stateShutdownNow
	return decision{records: recs, response: resp}
}

// nextState is Kafka's BrokerHeartbeatManager.calculateNextBrokerState.
func (c *Controller) nextState(current brokerState, b *BrokerRegistration, s *brokerSession, r *kmsg.BrokerHeartbeatRequest) brokerState {
	switch current {
	case stateFenced:
		switch {
		case r.WantShutdown:
			return stateShutdownNow
		case !r.WantFence && !b.InControlledShutdown && r.CurrentMetadataOffset >= c.unfenceOffset(b, s):
			// Caught up with the metadata past its own registration, and
			// past the fence it did not ask for: a broker that paused (or
			// was cut off) past its session, resumed, is unfenced only
			// once it has seen its partitions' leadership move, else its
			// lease would hold again while its coordinators still answer
			// from memory beside the new ones. An incarnation that went
			// through a controlled shutdown stays fenced: it must
			// register again.
			return stateUnfenced
		}
		return stateFenced
	case stateUnfenced:
		switch {
		case r.WantFence && r.WantShutdown:
			return stateShutdownNow
		case r.WantFence:
			return stateFenced
		case r.WantShutdown && leadsAny(c.working, b.ID) && c.otherActiveBroker(c.working, b.ID):
			// Its leadership can move: it stops once it moved and the
			// active brokers saw it. With no other active broker there
			// is nowhere to move it (the fence leaves its partitions
			// leaderless, as the controlled shutdown would): it stops
			// now, the last broker of a cluster going down as promptly
			// as any.
			return stateControlledShutdown
		case r.WantShutdown:
			return stateShutdownNow
		}
		return stateUnfenced
	case stateControlledShutdown:
		if leadsAny(c.working, b.ID) || s.shutdownOffset > c.lowestActiveOffset() {
			return stateControlledShutdown
		}
		return stateShutdownNow
	}
	return stateShutdownNow
}

// otherActiveBroker says a broker other than id may lead in w.
func (c *Controller) otherActiveBroker(w *MetadataImage, id int32) bool {
	for _, b := range c.knownBrokers(w) {
		if b != id && c.activeBroker(w, b) {
			return true
		}
	}
	return false
}

// unfenceOffset is the metadata offset a fenced broker must have applied
// to be unfenced: its registration's, and the session's unfenceFrom (a
// fence on its way to commit counts), never past the working image's last
// record (a fence whose batch was lost, in a log that stays quiet, would
// keep it fenced for good).
func (c *Controller) unfenceOffset(b *BrokerRegistration, s *brokerSession) int64 {
	return max(b.Epoch, min(s.unfenceFrom, c.working.Epoch-1))
}

// lowestActiveOffset is the lowest metadata offset the active brokers (not
// fenced, not shutting down) reported: a broker may finish its controlled
// shutdown once every active broker has seen its leadership move.
func (c *Controller) lowestActiveOffset() int64 {
	lowest := int64(math.MaxInt64)
	for id, s := range c.sessions {
		if b, ok := c.working.Broker(id); ok && b.Active() && s.shutdownOffset < 0 {
			lowest = min(lowest, s.metadataOffset)
		}
	}
	return lowest
}

// fenceRecords fence a broker: it leaves every ISR (the last member stays,
// unless the cluster keeps eligible leader replicas: then it may join the
// ELR), leadership moves, then the registration says fenced.
func (c *Controller) fenceRecords(w *MetadataImage, b *BrokerRegistration) []MetadataRecord {
	recs := c.leaderAndISRUpdates(w, b.ID, noBroker, inISR(b.ID))
	return append(recs, BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, Fenced: FenceBroker})
}

// unfenceRecords unfence a broker, then elect leaders for the leaderless
// partitions it can lead.
func (c *Controller) unfenceRecords(w *MetadataImage, b *BrokerRegistration) []MetadataRecord {
	recs := []MetadataRecord{BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, Fenced: UnfenceBroker}}
	return append(recs, c.leaderAndISRUpdates(w, noBroker, b.ID, leaderless)...)
}

// controlledShutdownRecords move a broker into controlled shutdown: it
// leaves every ISR and its leadership moves away (a partition whose only
// ISR member it is goes leaderless).
func (c *Controller) controlledShutdownRecords(w *MetadataImage, b *BrokerRegistration) []MetadataRecord {
	var recs []MetadataRecord
	if !b.InControlledShutdown {
		recs = append(recs, BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, InControlledShutdown: true})
	}
	return append(recs, c.leaderAndISRUpdates(w, b.ID, noBroker, inISR(b.ID))...)
}

// unregisterBroker decides an UnregisterBroker request: the broker leaves
// every ISR and its registration goes.
func (c *Controller) unregisterBroker(r *kmsg.UnregisterBrokerRequest) decision {
	resp := r.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	b, ok := c.working.Broker(r.BrokerID)
	if !ok {
		resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("broker %d is not registered", r.BrokerID))
		return decision{response: resp}
	}
	recs := c.leaderAndISRUpdates(c.working, b.ID, noBroker, inISR(b.ID))
	recs = append(recs, UnregisterBrokerRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch})
	delete(c.sessions, b.ID)
	return decision{records: recs, response: resp}
}

// BrokerFailed is membership's report (serf) that a broker failed. It is a
// hint, never a decision: the broker is fenced (and its leadership moves)
// before broker.session.timeout.ms only if its connections closed too
// (BrokerConnectionsClosed) and it missed its heartbeats for two
// heartbeat intervals; a heartbeat after the report clears it. So a broker
// that gossip lost but the controller still hears from, or one whose
// process stopped but lives (its connections stay open), keeps its
// partitions, and a broker that really died is fenced well before
// broker.session.timeout.ms. A report of the controller's own node is
// ignored: that broker runs in this process (BrokerSoleVoterLeaseMs
// relies on it).
func (c *Controller) BrokerFailed(id int32, now Instant) {
	if !c.active || id == c.cfg.NodeID {
		return
	}
	s := c.sessions[id]
	if s == nil {
		return
	}
	s.suspectedAtMs = now.MonoMs
	c.fenceLapsed(now)
}

// BrokerConnectionsClosed is the shell's report that every connection
// broker id's node had open to this controller's node (its heartbeats',
// its metadata quorum traffic's) closed and none opened since: the
// kernel of a process that died closes its connections, while those of a
// stopped or stalled one stay open. It is evidence, never a decision: with
// membership's report (BrokerFailed) it lets the controller fence the
// broker two heartbeat intervals after it last heard from it instead of
// at the end of its session. A heartbeat clears it. A shell reports it
// again to a controller that becomes active when it still holds. Like
// BrokerFailed, it is ignored for the controller's own node.
func (c *Controller) BrokerConnectionsClosed(id int32, now Instant) {
	if !c.active || id == c.cfg.NodeID {
		return
	}
	s := c.sessions[id]
	if s == nil {
		return
	}
	s.connsClosed = true
	c.fenceLapsed(now)
}

// Tick moves the controller's clock: it fences brokers whose session lapsed
// (or whose reported failure is confirmed), and runs the periodic preferred
// and unclean leader elections when they are due; nothing for lostQuietMs
// after a lost batch.
func (c *Controller) Tick(now Instant) {
	if !c.active {
		return
	}
	c.nowMs = max(c.nowMs, now.MonoMs)
	if now.MonoMs < c.quietUntilMs {
		return
	}
	c.fenceLapsed(now)
	if c.cfg.AutoLeaderRebalanceEnable && now.MonoMs >= c.nextBalanceMs {
		recs := c.preferredElections(c.working, maxElectionsPerImbalanceCheck)
		c.nextBalanceMs = now.MonoMs + c.cfg.LeaderImbalanceCheckIntervalMs
		if len(recs) >= maxElectionsPerImbalanceCheck {
			c.nextBalanceMs = now.MonoMs + rescheduleImmediatelyDelayMs
		}
		if len(recs) > 0 {
			c.propose(recs, nil)
		}
	}
	if now.MonoMs >= c.nextUncleanMs {
		recs := c.uncleanElections(c.working, maxElectionsPerImbalanceCheck)
		c.nextUncleanMs = now.MonoMs + c.cfg.UncleanLeaderElectionIntervalMs
		if len(recs) >= maxElectionsPerImbalanceCheck {
			c.nextUncleanMs = now.MonoMs + rescheduleImmediatelyDelayMs
		}
		if len(recs) > 0 {
			c.propose(recs, nil)
		}
	}
}

// fenceLapsed fences, one batch each and in id order, the unfenced brokers
// whose session lapsed or whose reported failure is confirmed.
func (c *Controller) fenceLapsed(now Instant) {
	for _, id := range slices.Sorted(maps.Keys(c.sessions)) {
		s := c.sessions[id]
		b, ok := c.working.Broker(id)
		if !ok || b.Fenced || !(c.expired(s, now.MonoMs) || c.failureConfirmed(id, s, now.MonoMs)) {
			continue
		}
		c.propose(c.fenceRecords(c.working, b), nil)
		s.shutdownOffset, s.suspectedAtMs, s.connsClosed = -1, -1, false
		s.unfenceFrom = c.working.Epoch - 1 // the fence record's offset
	}
}

// NextDeadline is when Tick may next have something to do (monotonic ms):
// a session lapsing, a reported failure confirmed, a periodic election, not
// before the quiet after a lost batch ends. false when the controller is
// not active.
func (c *Controller) NextDeadline() (int64, bool) {
	if !c.active {
		return 0, false
	}
	next := c.nextUncleanMs
	if c.cfg.AutoLeaderRebalanceEnable {
		next = min(next, c.nextBalanceMs)
	}
	for id, s := range c.sessions {
		if b, ok := c.working.Broker(id); !ok || b.Fenced {
			continue
		}
		next = min(next, s.lastContactMs+c.cfg.BrokerSessionTimeoutMs+1)
		if s.suspectedAtMs >= 0 && s.connsClosed {
			next = min(next, s.lastContactMs+2*c.cfg.BrokerHeartbeatIntervalMs)
			if c.predecessorFenceable(id, s) {
				next = min(next, c.predecessor.fenceFromMs)
			}
		}
	}
	return max(next, c.quietUntilMs), true
}

// preferredElections elect the preferred replica of partitions it does
// not lead, where it is in the ISR and active; at most limit.
func (c *Controller) preferredElections(w *MetadataImage, limit int) []MetadataRecord {
	acceptable := func(b int32) bool { return c.activeBroker(w, b) }
	var out []MetadataRecord
	for t := range w.Topics() {
		for _, p := range t.Partitions {
			if len(out) >= limit {
				return out
			}
			if len(p.Replicas) == 0 || p.Leader == p.Replicas[0] {
				continue
			}
			pc := c.newPartitionChange(w, t, p, acceptable)
			pc.election = electPreferred
			if rec, ok := pc.build(); ok {
				out = append(out, rec)
			}
		}
	}
	return out
}

// uncleanElections elect a leader, uncleanly if need be, for leaderless
// partitions of topics with unclean.leader.election.enable=true; at most
// limit.
func (c *Controller) uncleanElections(w *MetadataImage, limit int) []MetadataRecord {
	acceptable := func(b int32) bool { return c.activeBroker(w, b) }
	var out []MetadataRecord
	for t := range w.Topics() {
		if !c.uncleanElectionEnabled(w, t) {
			continue
		}
		for _, p := range t.Partitions {
			if len(out) >= limit {
				return out
			}
			if !leaderless(p) {
				continue
			}
			pc := c.newPartitionChange(w, t, p, acceptable)
			pc.election = electUnclean
			if rec, ok := pc.build(); ok {
				out = append(out, rec)
			}
		}
	}
	return out
}
