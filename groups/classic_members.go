package groups

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// The classic protocol's SyncGroup, Heartbeat and LeaveGroup, and the
// timers that end sessions, pending member ids and waits for SyncGroup.

func syncResponse(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version, r.ErrorCode = version, code
	return r
}

// classicMember finds the member of a classic group that a SyncGroup or
// Heartbeat names, or says with the error code why there is none:
// INVALID_GROUP_ID for no group id, UNKNOWN_MEMBER_ID for no such classic
// group or member, COORDINATOR_NOT_AVAILABLE for a group being unloaded,
// FENCED_INSTANCE_ID for a static instance id another member id holds.
func (c *Coordinator) classicMember(groupID string, instanceID *string, memberID string) (*group, *member, int16) {
	g := c.groups[groupID]
	switch {
	case groupID == "":
		return nil, nil, kerr.InvalidGroupID.Code
	case g == nil || g.kind != kindClassic:
		return nil, nil, kerr.UnknownMemberID.Code
	case g.state == stateDead:
		return nil, nil, kerr.CoordinatorNotAvailable.Code
	case g.staticFenced(instanceID, memberID):
		return nil, nil, kerr.FencedInstanceID.Code
	}
	m, ok := g.byID[memberID]
	if !ok {
		return nil, nil, kerr.UnknownMemberID.Code
	}
	return g, m, 0
}

func (c *Coordinator) syncGroup(id internaltopic.RequestID, req *kmsg.SyncGroupRequest, now internaltopic.Time) {
	fail := func(code int16) { c.reply(id, syncResponse(req.Version, code)) }
	g, m, code := c.classicMember(req.Group, req.InstanceID, req.MemberID)
	switch {
	case code != 0:
		fail(code)
		return
	case req.Generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocolName:
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case stateEmpty:
		fail(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		if m.sync != nil {
			c.reply(m.sync.id, syncResponse(m.sync.version, kerr.RebalanceInProgress.Code))
		}
		m.sync = &waiting{id: id, version: req.Version}
		c.synced(g, m)
		if g.leader == m.id {
			c.storeAssignment(g, req, now)
		}
	case stateStable:
		c.synced(g, m)
		c.reply(id, g.syncResult(m, req.Version))
		c.scheduleHeartbeat(m, now)
	}
}

// synced notes that m sent SyncGroup in this generation.
func (c *Coordinator) synced(g *group, m *member) {
	delete(g.pendingSync, m.id)
	if len(g.pendingSync) == 0 {
		g.syncDeadlineMs = noDeadline
	}
}

func (g *group) syncResult(m *member, version int16) *kmsg.SyncGroupResponse {
	r := syncResponse(version, 0)
	r.ProtocolType, r.Protocol = kmsg.StringPtr(g.protocolType), kmsg.StringPtr(g.protocolName)
	r.MemberAssignment = m.assignment
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// storeAssignment makes the leader's assignment durable, then hands every
// member waiting in SyncGroup its part and makes the group stable; members
// the leader left out get an empty assignment.
func (c *Coordinator) storeAssignment(g *group, req *kmsg.SyncGroupRequest, now internaltopic.Time) {
	assignment := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if _, ok := g.byID[a.MemberID]; ok {
			assignment[a.MemberID] = a.MemberAssignment
		}
	}
	for _, m := range g.members {
		if _, ok := assignment[m.id]; !ok {
			assignment[m.id] = []byte{}
		}
	}
	gen := g.generation
	// The assignment applies once acknowledged: a refusal (a record too
	// large) fails this sync alone (refused_appends.go).
	c.storeGroupRefusable(g, assignment, func(code int16, now internaltopic.Time) {
		// The group may have moved on while the record was appended:
		// then this assignment is stale and nothing is done.
		if c.groups[g.id] != g || g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		if code != 0 {
			c.resetAssignments(g, storeErrorCode(code))
			c.maybePrepareRebalance(g, now)
			return
		}
		for _, m := range g.members {
			m.assignment = assignment[m.id]
			if m.sync != nil {
				c.reply(m.sync.id, g.syncResult(m, m.sync.version))
				m.sync = nil
				c.scheduleHeartbeat(m, now)
			}
		}
		g.transition(stateStable, now)
	})
}

func (c *Coordinator) heartbeat(id internaltopic.RequestID, req *kmsg.HeartbeatRequest, now internaltopic.Time) {
	answer := func(code int16) {
		r := kmsg.NewPtrHeartbeatResponse()
		r.Version, r.ErrorCode = req.Version, code
		c.reply(id, r)
	}
	g, m, code := c.classicMember(req.Group, req.InstanceID, req.MemberID)
	switch {
	case code != 0:
		answer(code)
	case req.Generation != g.generation:
		answer(kerr.IllegalGeneration.Code)
	case g.state == stateEmpty:
		answer(kerr.UnknownMemberID.Code)
	case g.state == statePreparingRebalance:
		c.heartbeated(m, now)
		answer(kerr.RebalanceInProgress.Code)
	default:
		c.heartbeated(m, now)
		answer(0)
	}
}

// heartbeated restarts m's session, unless m waits in a rebalance (which
// bounds it instead).
func (c *Coordinator) heartbeated(m *member, now internaltopic.Time) {
	if m.join != nil && !m.isNew || m.sync != nil {
		m.heartbeatDeadlineMs = noDeadline
		return
	}
	c.scheduleHeartbeat(m, now)
}

func (c *Coordinator) leaveGroup(id internaltopic.RequestID, req *kmsg.LeaveGroupRequest, now internaltopic.Time) {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	if req.Group == "" {
		// Kafka answers an empty group id on the response, naming no
		// member, at every version.
		resp.ErrorCode = kerr.InvalidGroupID.Code
		c.reply(id, resp)
		return
	}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	g := c.groups[req.Group]
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		switch {
		case g == nil || g.kind != kindClassic:
			rm.ErrorCode = kerr.UnknownMemberID.Code
		case g.state == stateDead:
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			rm.ErrorCode = c.leave(g, l, now)
		}
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		// One member: its error is the answer's.
		if resp.ErrorCode == 0 {
			resp.ErrorCode = resp.Members[0].ErrorCode
		}
		resp.Members = nil
	}
	c.reply(id, resp)
}

// leave removes one leaving member: by member id, or (an administrator's
// request) by group instance id alone.
func (c *Coordinator) leave(g *group, l kmsg.LeaveGroupRequestMember, now internaltopic.Time) int16 {
	switch {
	case l.MemberID == "":
		if l.InstanceID == nil {
			return kerr.UnknownMemberID.Code
		}
		current, ok := g.static[*l.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		c.removeMemberAndUpdateGroup(g, g.byID[current], now)
	case g.isPending(l.MemberID):
		delete(g.pending, l.MemberID)
		c.maybeCompleteJoin(g, now)
	case g.staticFenced(l.InstanceID, l.MemberID):
		return kerr.FencedInstanceID.Code
	default:
		m, ok := g.byID[l.MemberID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		c.removeMemberAndUpdateGroup(g, m, now)
	}
	return 0
}

// removeMemberAndUpdateGroup removes a member that left or whose session
// ended: a stable group rebalances, a rebalancing one may finish joining.
func (c *Coordinator) removeMemberAndUpdateGroup(g *group, m *member, now internaltopic.Time) {
	if m.join != nil {
		c.reply(m.join.id, joinResponse(m.join.version, m.id, kerr.UnknownMemberID.Code))
	}
	if m.sync != nil {
		c.reply(m.sync.id, syncResponse(m.sync.version, kerr.UnknownMemberID.Code))
	}
	c.removeMember(g, m)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.maybePrepareRebalance(g, now)
	case statePreparingRebalance:
		c.maybeCompleteJoin(g, now)
	}
}

// classicTick ends what is due in a classic group, in deadline order of
// kind: the join phase, the wait for SyncGroup, sessions, pending ids.
func (c *Coordinator) classicTick(g *group, now internaltopic.Time) {
	if g.state == statePreparingRebalance && now.MonoMs >= g.joinDeadlineMs {
		c.joinDeadlinePassed(g, now)
	}
	if now.MonoMs >= g.syncDeadlineMs {
		c.syncDeadlinePassed(g, now)
	}
	for _, m := range append([]*member(nil), g.members...) {
		if now.MonoMs < m.heartbeatDeadlineMs {
			continue
		}
		if m.isNew || m.join == nil && m.sync == nil {
			c.removeMemberAndUpdateGroup(g, m, now)
		} else {
			// Waiting in a rebalance satisfies the session.
			m.heartbeatDeadlineMs = noDeadline
		}
	}
	var lapsed []string
	for id, dl := range g.pending {
		if now.MonoMs >= dl {
			lapsed = append(lapsed, id)
		}
	}
	slices.Sort(lapsed)
	for _, id := range lapsed {
		delete(g.pending, id)
	}
	if len(lapsed) > 0 {
		c.maybeCompleteJoin(g, now)
	}
}

// syncDeadlinePassed removes the members that joined but never sent
// SyncGroup, and rebalances without them.
func (c *Coordinator) syncDeadlinePassed(g *group, now internaltopic.Time) {
	g.syncDeadlineMs = noDeadline
	if g.state != stateCompletingRebalance && g.state != stateStable || len(g.pendingSync) == 0 {
		return
	}
	for _, m := range append([]*member(nil), g.members...) {
		if g.pendingSync[m.id] {
			if m.sync != nil {
				c.reply(m.sync.id, syncResponse(m.sync.version, kerr.UnknownMemberID.Code))
			}
			c.removeMember(g, m)
		}
	}
	c.prepareRebalance(g, now)
}
