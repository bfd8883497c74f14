package groups

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// The classic protocol's JoinGroup and the join phase of a rebalance, after
// Kafka's group coordinator: members join, the join phase ends when every
// member has rejoined (or the rebalance timeout passes), a new generation
// starts and the leader is handed every member's metadata.

func joinResponse(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version, r.ErrorCode, r.MemberID, r.Generation = version, code, memberID, -1
	return r
}

func protocolsOf(req *kmsg.JoinGroupRequest) []protocol {
	out := make([]protocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		out = append(out, protocol{name: p.Name, metadata: p.Metadata})
	}
	return out
}

func (c *Coordinator) joinGroup(id internaltopic.RequestID, req *kmsg.JoinGroupRequest, client Client, now internaltopic.Time) {
	fail := func(code int16) { c.reply(id, joinResponse(req.Version, req.MemberID, code)) }
	switch {
	case req.Group == "":
		fail(kerr.InvalidGroupID.Code)
		return
	case req.SessionTimeoutMillis < c.cfg.MinSessionTimeoutMs || req.SessionTimeoutMillis > c.cfg.MaxSessionTimeoutMs:
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	if req.Version == 0 {
		// v0 has no rebalance timeout: the session timeout is both.
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis
	}
	g := c.groups[req.Group]
	unknown := req.MemberID == ""
	switch {
	case g == nil && !unknown:
		fail(kerr.UnknownMemberID.Code)
		return
	case g == nil:
		if !validProtocols(req) {
			fail(kerr.InconsistentGroupProtocol.Code)
			return
		}
		g = newClassicGroup(req.Group, now)
		c.groups[g.id] = g
	case g.kind == kindConsumer:
		if !g.isEmpty() {
			// Classic and consumer members are kept apart.
			fail(kerr.InconsistentGroupProtocol.Code)
			return
		}
		c.convertToClassic(g, now)
	}
	if _, known := g.byID[req.MemberID]; !known && len(g.members)+len(g.pending) >= c.cfg.MaxSize && !g.isPending(req.MemberID) {
		fail(kerr.GroupMaxSizeReached.Code)
		return
	}
	if unknown {
		c.joinNewMember(g, id, req, client, now)
	} else {
		c.joinKnownMember(g, id, req, client, now)
	}
	c.maybeCompleteJoin(g, now)
}

func validProtocols(req *kmsg.JoinGroupRequest) bool {
	return req.ProtocolType != "" && len(req.Protocols) > 0
}

func (g *group) isPending(memberID string) bool {
	_, ok := g.pending[memberID]
	return ok
}

// supportsProtocols says whether a member with protocolType and protocols
// may join: the first member sets the type; later ones must share it and at
// least one protocol every member supports.
func (g *group) supportsProtocols(protocolType string, protocols []protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	common := g.commonProtocols()
	for _, p := range protocols {
		if common[p.name] {
			return true
		}
	}
	return false
}

// commonProtocols are the protocols every member supports.
func (g *group) commonProtocols() map[string]bool {
	counts := map[string]int{}
	for _, m := range g.members {
		seen := map[string]bool{}
		for _, p := range m.protocols {
			if !seen[p.name] {
				seen[p.name] = true
				counts[p.name]++
			}
		}
	}
	out := map[string]bool{}
	for name, n := range counts {
		if n == len(g.members) {
			out[name] = true
		}
	}
	return out
}

// selectProtocol picks the protocol of the next generation: among those
// every member supports, each member votes for its first; the most votes
// win, ties going to the one the leader prefers.
func (g *group) selectProtocol() string {
	common := g.commonProtocols()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if common[p.name] {
				votes[p.name]++
				break
			}
		}
	}
	order := g.members[0].protocols
	if l, ok := g.byID[g.leader]; ok {
		order = l.protocols
	}
	best, bestVotes := "", -1
	for _, p := range order {
		if common[p.name] && votes[p.name] > bestVotes {
			best, bestVotes = p.name, votes[p.name]
		}
	}
	return best
}

func (c *Coordinator) joinNewMember(g *group, id internaltopic.RequestID, req *kmsg.JoinGroupRequest, client Client, now internaltopic.Time) {
	protocols := protocolsOf(req)
	switch {
	case g.state == stateDead:
		c.reply(id, joinResponse(req.Version, "", kerr.CoordinatorNotAvailable.Code))
		return
	case !g.supportsProtocols(req.ProtocolType, protocols):
		c.reply(id, joinResponse(req.Version, "", kerr.InconsistentGroupProtocol.Code))
		return
	}
	memberID := c.newMemberID(client.ID)
	switch {
	case req.InstanceID != nil:
		c.joinStaticMember(g, id, req, client, memberID, now)
	case req.Version >= 4:
		// KIP-394: the member learns its id and joins again with it, so
		// a client that gave up on its JoinGroup leaves no stray member.
		g.pending[memberID] = now.MonoMs + int64(req.SessionTimeoutMillis)
		c.reply(id, joinResponse(req.Version, memberID, kerr.MemberIDRequired.Code))
	default:
		c.addMemberAndRebalance(g, id, req, client, memberID, now)
	}
}

func (c *Coordinator) joinKnownMember(g *group, id internaltopic.RequestID, req *kmsg.JoinGroupRequest, client Client, now internaltopic.Time) {
	protocols := protocolsOf(req)
	fail := func(code int16) { c.reply(id, joinResponse(req.Version, req.MemberID, code)) }
	switch {
	case g.state == stateDead:
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	case !g.supportsProtocols(req.ProtocolType, protocols):
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	case g.isPending(req.MemberID):
		c.addMemberAndRebalance(g, id, req, client, req.MemberID, now)
		return
	case g.staticFenced(req.InstanceID, req.MemberID):
		fail(kerr.FencedInstanceID.Code)
		return
	}
	m, ok := g.byID[req.MemberID]
	if !ok || req.InstanceID != nil && g.static[*req.InstanceID] == "" {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	switch g.state {
	case statePreparingRebalance:
		c.updateMemberAndRebalance(g, m, id, req, now)
	case stateCompletingRebalance:
		if m.matches(protocols) {
			// The member lost its JoinGroup answer: it gets the
			// current generation again.
			c.reply(id, g.joinResult(m, req.Version, false))
		} else {
			c.updateMemberAndRebalance(g, m, id, req, now)
		}
	case stateStable:
		if g.leader == m.id || !m.matches(protocols) {
			c.updateMemberAndRebalance(g, m, id, req, now)
		} else {
			c.reply(id, g.joinResult(m, req.Version, false))
		}
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

// staticFenced says whether instanceID belongs to another member id.
func (g *group) staticFenced(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	current, ok := g.static[*instanceID]
	return ok && current != memberID
}

// joinResult is a successful JoinGroup answer for m in the current
// generation; the leader gets every member's metadata.
func (g *group) joinResult(m *member, version int16, skipAssignment bool) *kmsg.JoinGroupResponse {
	r := joinResponse(version, m.id, 0)
	r.Generation, r.LeaderID, r.SkipAssignment = g.generation, g.leader, skipAssignment
	r.ProtocolType, r.Protocol = kmsg.StringPtr(g.protocolType), kmsg.StringPtr(g.protocolName)
	if g.leader == m.id {
		r.Members = g.memberMetadata()
	}
	return r
}

func (g *group) memberMetadata() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = m.id, m.instanceID, m.metadataFor(g.protocolName)
		out = append(out, jm)
	}
	return out
}

// joinStaticMember joins a member with a group instance id and no member id
// yet: a new instance joins like any new member; a known one takes over its
// predecessor's place (KIP-345), fencing it, and in a stable group gets the
// current generation back without a rebalance.
func (c *Coordinator) joinStaticMember(g *group, id internaltopic.RequestID, req *kmsg.JoinGroupRequest, client Client, memberID string, now internaltopic.Time) {
	oldID, known := g.static[*req.InstanceID]
	if !known {
		c.addMemberAndRebalance(g, id, req, client, memberID, now)
		return
	}
	m := g.byID[oldID]
	oldLeader := g.leader
	old := *m
	c.replaceStaticMember(g, m, memberID)
	c.scheduleHeartbeat(m, now)
	m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs = protocolsOf(req), req.RebalanceTimeoutMillis, req.SessionTimeoutMillis
	m.clientID, m.clientHost = client.ID, client.Host
	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocolName {
			g.setJoin(m, &waiting{id: id, version: req.Version}, c)
			c.maybePrepareRebalance(g, now)
			return
		}
		gen := g.generation
		// On a failure the takeover is undone: a refusal fails this join
		// alone (refused_appends.go).
		c.storeGroupRefusable(g, nil, func(code int16, now internaltopic.Time) {
			if c.groups[g.id] != g || g.generation != gen || g.byID[memberID] != m {
				c.reply(id, joinResponse(req.Version, "", kerr.RebalanceInProgress.Code))
				return
			}
			if code != 0 {
				// Undo the takeover: the old member id stays.
				c.replaceStaticMember(g, m, oldID)
				m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs = old.protocols, old.rebalanceTimeoutMs, old.sessionTimeoutMs
				m.clientID, m.clientHost = old.clientID, old.clientHost
				c.scheduleHeartbeat(m, now)
				r := joinResponse(req.Version, "", storeErrorCode(code))
				r.Generation, r.LeaderID = g.generation, oldLeader
				c.reply(id, r)
				return
			}
			if req.Version >= 9 {
				// The leader learns it leads but keeps the current
				// assignment: nothing changed.
				c.reply(id, g.joinResult(m, req.Version, g.leader == m.id))
				return
			}
			// Before v9, the old leader id keeps a returning leader from
			// assigning again in a stable group.
			r := g.joinResult(m, req.Version, false)
			r.LeaderID, r.Members = oldLeader, nil
			c.reply(id, r)
		})
	case stateCompletingRebalance:
		// The leader may be assigning to the old member id: start over.
		g.setJoin(m, &waiting{id: id, version: req.Version}, c)
		c.prepareRebalance(g, now)
	case statePreparingRebalance:
		g.setJoin(m, &waiting{id: id, version: req.Version}, c)
	default:
		panic("groups: a static member is known in an empty group")
	}
}

// replaceStaticMember gives m the member id newID, answering the old id's
// waiting requests with FENCED_INSTANCE_ID.
func (c *Coordinator) replaceStaticMember(g *group, m *member, newID string) {
	if m.join != nil {
		c.reply(m.join.id, joinResponse(m.join.version, m.id, kerr.FencedInstanceID.Code))
		g.setJoin(m, nil, c)
	}
	if m.sync != nil {
		c.reply(m.sync.id, syncResponse(m.sync.version, kerr.FencedInstanceID.Code))
		m.sync = nil
	}
	oldID := m.id
	delete(g.byID, oldID)
	m.id = newID
	g.byID[newID] = m
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	g.static[*m.instanceID] = newID
}

// setJoin sets (or clears, with nil) the JoinGroup a member waits with; one
// it replaces is told to rejoin.
func (g *group) setJoin(m *member, w *waiting, c *Coordinator) {
	switch {
	case m.join != nil && w != nil:
		c.reply(m.join.id, joinResponse(m.join.version, m.id, kerr.RebalanceInProgress.Code))
	case m.join == nil && w != nil:
		g.numAwaitingJoin++
	case m.join != nil && w == nil:
		g.numAwaitingJoin--
	}
	m.join = w
}

func (c *Coordinator) addMemberAndRebalance(g *group, id internaltopic.RequestID, req *kmsg.JoinGroupRequest, client Client, memberID string, now internaltopic.Time) {
	m := &member{id: memberID, instanceID: req.InstanceID, clientID: client.ID, clientHost: client.Host,
		rebalanceTimeoutMs: req.RebalanceTimeoutMillis, sessionTimeoutMs: req.SessionTimeoutMillis,
		protocolType: req.ProtocolType, protocols: protocolsOf(req), isNew: true}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members = append(g.members, m)
	g.byID[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	delete(g.pending, m.id)
	g.setJoin(m, &waiting{id: id, version: req.Version}, c)
	// A new member cannot heartbeat before it has joined; its join is
	// bounded instead, so a client that gave up leaves no member behind.
	m.heartbeatDeadlineMs = now.MonoMs + c.cfg.NewMemberJoinTimeoutMs
	c.maybePrepareRebalance(g, now)
}

func (c *Coordinator) updateMemberAndRebalance(g *group, m *member, id internaltopic.RequestID, req *kmsg.JoinGroupRequest, now internaltopic.Time) {
	m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs = protocolsOf(req), req.RebalanceTimeoutMillis, req.SessionTimeoutMillis
	g.setJoin(m, &waiting{id: id, version: req.Version}, c)
	c.maybePrepareRebalance(g, now)
}

func (c *Coordinator) maybePrepareRebalance(g *group, now internaltopic.Time) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		c.prepareRebalance(g, now)
	}
}

// rebalanceTimeoutMs is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeoutMs() int64 {
	var out int32
	for _, m := range g.members {
		out = max(out, m.rebalanceTimeoutMs)
	}
	return int64(out)
}

// prepareRebalance starts a rebalance: members awaiting their assignment
// are told to rejoin, and the join phase begins (an empty group first waits
// group.initial.rebalance.delay.ms for more members).
func (c *Coordinator) prepareRebalance(g *group, now internaltopic.Time) {
	if g.state == stateCompletingRebalance {
		c.resetAssignments(g, kerr.RebalanceInProgress.Code)
	}
	g.syncDeadlineMs = noDeadline
	if g.state == stateEmpty {
		delay := c.cfg.InitialRebalanceDelayMs
		g.initialDelay, g.initialRemainingMs = true, max(g.rebalanceTimeoutMs()-delay, 0)
		g.joinDeadlineMs = now.MonoMs + delay
	} else {
		g.initialDelay = false
		g.joinDeadlineMs = now.MonoMs + g.rebalanceTimeoutMs()
	}
	g.transition(statePreparingRebalance, now)
	// A group whose members all wait (or that has none left) need not.
	c.maybeCompleteJoin(g, now)
}

// resetAssignments clears every assignment and answers waiting SyncGroups
// with code.
func (c *Coordinator) resetAssignments(g *group, code int16) {
	for _, m := range g.members {
		m.assignment = nil
		if m.sync != nil {
			c.reply(m.sync.id, syncResponse(m.sync.version, code))
			m.sync = nil
		}
	}
}

// maybeCompleteJoin ends the join phase once every member has rejoined and
// no member id handed out is still expected (never during the initial
// delay, which only its deadline ends).
func (c *Coordinator) maybeCompleteJoin(g *group, now internaltopic.Time) {
	if g.kind == kindClassic && g.state == statePreparingRebalance && !g.initialDelay &&
		g.numAwaitingJoin == len(g.members) && len(g.pending) == 0 {
		c.completeJoin(g, now)
	}
}

// joinDeadlinePassed ends the join phase at its deadline; the initial delay
// is extended while members keep joining.
func (c *Coordinator) joinDeadlinePassed(g *group, now internaltopic.Time) {
	if g.initialDelay && g.newMemberAdded && g.initialRemainingMs != 0 && c.cfg.InitialRebalanceDelayMs > 0 {
		g.newMemberAdded = false
		delay := min(c.cfg.InitialRebalanceDelayMs, g.initialRemainingMs)
		g.initialRemainingMs = max(g.initialRemainingMs-delay, 0)
		g.joinDeadlineMs = now.MonoMs + delay
		return
	}
	c.completeJoin(g, now)
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// removed, a new generation starts, and every joined member is answered.
func (c *Coordinator) completeJoin(g *group, now internaltopic.Time) {
	g.joinDeadlineMs, g.initialDelay, g.newMemberAdded = noDeadline, false, false
	for _, m := range append([]*member(nil), g.members...) {
		if m.join == nil && !m.isStatic() {
			c.removeMember(g, m)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait for
		// them, or for their sessions to end.
		g.joinDeadlineMs = now.MonoMs + g.rebalanceTimeoutMs()
		return
	}
	g.generation++
	c.rebalances++
	if len(g.members) == 0 {
		g.protocolName = ""
		g.subscribedTopics = nil
		g.transition(stateEmpty, now)
		c.storeGroup(g, nil, func(int16, internaltopic.Time) {})
		return
	}
	g.protocolName = g.selectProtocol()
	g.subscribedTopics = g.consumerSubscriptions()
	g.transition(stateCompletingRebalance, now)
	clear(g.pendingSync)
	for _, m := range g.members {
		g.pendingSync[m.id] = true
		if m.join != nil {
			c.reply(m.join.id, g.joinResult(m, m.join.version, false))
			g.setJoin(m, nil, c)
		}
		c.scheduleHeartbeat(m, now)
		m.isNew = false
	}
	g.syncDeadlineMs = now.MonoMs + g.rebalanceTimeoutMs()
}

// electJoinedLeader keeps the leader if it rejoined, else makes the first
// member that rejoined the leader; false if none did.
func (g *group) electJoinedLeader() bool {
	if l, ok := g.byID[g.leader]; ok && l.join != nil {
		return true
	}
	for _, m := range g.members {
		if m.join != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// removeMember drops m from the group (its waiting requests must have been
// answered); the leader passes to the first member left.
func (c *Coordinator) removeMember(g *group, m *member) {
	g.setJoin(m, nil, c)
	m.sync = nil
	delete(g.byID, m.id)
	delete(g.pendingSync, m.id)
	for i, other := range g.members {
		if other == m {
			g.members = append(g.members[:i], g.members[i+1:]...)
			break
		}
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.members) > 0 {
			g.leader = g.members[0].id
		}
	}
	if len(g.pendingSync) == 0 {
		g.syncDeadlineMs = noDeadline
	}
}

// consumerSubscriptions reads the topics the members subscribe to from
// their consumer protocol metadata, or nil when the group is not a consumer
// group or some metadata does not parse.
func (g *group) consumerSubscriptions() map[string]bool {
	if g.protocolType != "consumer" {
		return nil
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocolName)); err != nil {
			return nil
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out
}

func (c *Coordinator) scheduleHeartbeat(m *member, now internaltopic.Time) {
	m.heartbeatDeadlineMs = now.MonoMs + int64(m.sessionTimeoutMs)
}

// storeGroup appends the group's metadata with assignment (see
// groupMetadataRecord) and calls done with the outcome.
func (c *Coordinator) storeGroup(g *group, assignment map[string][]byte, done func(code int16, now internaltopic.Time)) {
	c.append([]internaltopic.Record{groupMetadataRecord(g, assignment)}, done)
}

// storeGroupRefusable is storeGroup for a record whose state applies only
// once acknowledged (or which done undoes): a refusal fails it alone.
func (c *Coordinator) storeGroupRefusable(g *group, assignment map[string][]byte, done func(code int16, now internaltopic.Time)) {
	c.appendRefusable([]internaltopic.Record{groupMetadataRecord(g, assignment)}, nil, done)
}
