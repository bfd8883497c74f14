package groups

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// KIP-848 consumer groups: members heartbeat with ConsumerGroupHeartbeat,
// the coordinator computes the target assignment with a server assignor
// whenever the group epoch moves (a member joins, leaves or changes its
// subscription, or the subscribed topics change), and each member is led
// to its target incrementally: it first revokes what it must give up, then
// gets what it should own once no other member owns it. A member's epoch is
// the target epoch it has reached.

// ConsumerConfig holds the settings of KIP-848 consumer groups. Zero fields
// take Kafka's defaults.
type ConsumerConfig struct {
	// SessionTimeoutMs is group.consumer.session.timeout.ms (45000).
	SessionTimeoutMs int32
	// HeartbeatIntervalMs is group.consumer.heartbeat.interval.ms (5000).
	HeartbeatIntervalMs int32
}

// Effective is c with Kafka's defaults in its zero fields: the values the
// coordinator uses.
func (c ConsumerConfig) Effective() ConsumerConfig { return c.withDefaults() }

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	if c.SessionTimeoutMs <= 0 {
		c.SessionTimeoutMs = 45000
	}
	if c.HeartbeatIntervalMs <= 0 {
		c.HeartbeatIntervalMs = 5000
	}
	return c
}

// The server assignors, by the names clients ask for; the first is the
// default.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// memberState is where a member is on its way to its target assignment.
type memberState int8

const (
	// memberStable: the member owns its whole target at the target epoch.
	memberStable memberState = iota
	// memberUnrevoked: the member must first give up partitions.
	memberUnrevoked
	// memberUnreleased: at the target epoch, waiting for partitions other
	// members still own.
	memberUnreleased
)

// tpSet is a set of partitions.
type tpSet map[topicPartition]struct{}

func (s tpSet) sorted() []topicPartition {
	out := make([]topicPartition, 0, len(s))
	for tp := range s {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out
}

// consumerMember is a member of a consumer group.
type consumerMember struct {
	id                   string
	instanceID, rackID   *string
	clientID, clientHost string
	subscribedNames      []string // sorted
	regex                string   // "" when none
	pattern              *regexp.Regexp
	serverAssignor       string
	rebalanceTimeoutMs   int32

	epoch, previousEpoch int32
	state                memberState
	// assigned are the partitions the member owns; revoking, those it must
	// give up before it reaches the target epoch.
	assigned, revoking tpSet
	// assignedAt is the assignment epoch of each partition of assigned
	// and revoking (KIP-1251): the member epoch at which the member was
	// given it. An offset commit at an older member epoch than the
	// member's is accepted for the partitions it names that were assigned
	// at or before that epoch (validateConsumerOffsetCommit).
	assignedAt map[topicPartition]int32

	sessionDeadlineMs    int64
	revocationDeadlineMs int64
	// leftStatic is set when a static member left for now (epoch -2):
	// its instance keeps its place until the session ends.
	leftStatic bool
}

// consumerGroup is the state of a KIP-848 consumer group.
type consumerGroup struct {
	epoch, assignmentEpoch int32
	members                map[string]*consumerMember
	static                 map[string]string // instance id → member id
	target                 map[string]tpSet  // member id → target assignment
	// subscribed is the id and partition count of every topic a member
	// subscribes to: when they change, the group epoch moves (a topic
	// deleted and created again under its name has a new id, and the
	// target, which names topics by id in the log, must name the new one).
	subscribed map[string]subscribedTopic
	assignor   string
	// written is the value last written under each of the group's record
	// keys (consumer_records.go).
	written map[string][]byte
}

// subscribedTopic is a subscribed topic's id and partition count.
type subscribedTopic struct {
	id         [16]byte
	partitions int32
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: map[string]*consumerMember{}, static: map[string]string{},
		target: map[string]tpSet{}, subscribed: map[string]subscribedTopic{}, assignor: assignorUniform, written: map[string][]byte{}}
}

func (cg *consumerGroup) nextDeadlineMs() int64 {
	next := int64(noDeadline)
	for _, m := range cg.members {
		next = min(next, m.sessionDeadlineMs, m.revocationDeadlineMs)
	}
	return next
}

func (cg *consumerGroup) subscribedTo(topic string) bool {
	_, ok := cg.subscribed[topic]
	return ok && len(cg.members) > 0
}

func (cg *consumerGroup) sortedMembers() []*consumerMember {
	out := make([]*consumerMember, 0, len(cg.members))
	for _, m := range cg.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *consumerMember) int { return cmp.Compare(a.id, b.id) })
	return out
}

// state is the group's state under Kafka's names.
func (cg *consumerGroup) state() groupState {
	switch {
	case len(cg.members) == 0:
		return stateEmpty
	case cg.assignmentEpoch < cg.epoch:
		return stateAssigning
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || m.state != memberStable {
			return stateReconciling
		}
	}
	return stateStable
}

func heartbeatResponse(version int16, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.Version, r.ErrorCode = version, code
	if msg != "" {
		r.ErrorMessage = kmsg.StringPtr(msg)
	}
	return r
}

// validHeartbeat checks a heartbeat's fields as Kafka does; it returns an
// error code and message, or 0.
func validHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	switch {
	case req.Group == "":
		return kerr.InvalidRequest.Code, "GroupId can't be empty"
	case req.MemberEpoch < -2:
		return kerr.InvalidRequest.Code, fmt.Sprintf("MemberEpoch %d is invalid", req.MemberEpoch)
	case req.MemberID == "" && (req.MemberEpoch != 0 || req.Version >= 1):
		return kerr.InvalidRequest.Code, "MemberId can't be empty"
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis == -1:
		return kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in the first request"
	case req.MemberEpoch == 0 && len(req.Topics) > 0:
		return kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining"
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return kerr.InvalidRequest.Code, "SubscribedTopicNames or SubscribedTopicRegex must be set in the first request"
	case req.ServerAssignor != nil && *req.ServerAssignor != assignorUniform && *req.ServerAssignor != assignorRange:
		return kerr.UnsupportedAssignor.Code, fmt.Sprintf("ServerAssignor %s is not supported; supported assignors: uniform, range", *req.ServerAssignor)
	}
	return 0, ""
}

func (c *Coordinator) consumerHeartbeat(id internaltopic.RequestID, req *kmsg.ConsumerGroupHeartbeatRequest, client Client, now internaltopic.Time) {
	if code, msg := validHeartbeat(req); code != 0 {
		c.reply(id, heartbeatResponse(req.Version, code, msg))
		return
	}
	var pattern *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		p, err := regexp.Compile("^(?:" + *req.SubscribedTopicRegex + ")$")
		if err != nil {
			c.reply(id, heartbeatResponse(req.Version, kerr.InvalidRegularExpression.Code, err.Error()))
			return
		}
		pattern = p
	}
	g := c.groups[req.Group]
	switch {
	case g == nil && req.MemberEpoch != 0:
		c.reply(id, heartbeatResponse(req.Version, kerr.UnknownMemberID.Code, fmt.Sprintf("group %s has no member %s", req.Group, req.MemberID)))
		return
	case g == nil:
		g = newClassicGroup(req.Group, now)
		c.groups[g.id] = g
		c.convertToConsumer(g, now)
	case g.kind == kindClassic:
		if !g.isEmpty() || c.groupBusy(g) {
			c.reply(id, heartbeatResponse(req.Version, kerr.GroupIDNotFound.Code, fmt.Sprintf("group %s is not a consumer group", req.Group)))
			return
		}
		c.convertToConsumer(g, now)
	}
	if req.MemberEpoch < 0 {
		c.consumerLeave(g, id, req, now)
		return
	}
	if req.MemberID == "" {
		req.MemberID = c.newUUID() // v0: the coordinator names the member
	}
	m, code, msg := c.consumerMemberFor(g, req, now)
	if code != 0 {
		c.reply(id, heartbeatResponse(req.Version, code, msg))
		return
	}
	before := assignmentKey(m)
	changed := c.updateMember(m, req, client, pattern)
	if req.Topics != nil && m.state == memberUnrevoked && !c.ownsAny(req.Topics, m.revoking) {
		m.revoked() // the member acknowledged the revocation
	}
	m.sessionDeadlineMs = now.MonoMs + int64(c.cfg.Consumer.SessionTimeoutMs)
	// The group's subscribed partition counts move only with a member's
	// subscription (changed), a member's removal, or the topics, which
	// recompute them where they change (removeConsumerMember,
	// topicsChanged, consumerGroupLoaded): a heartbeat that changed
	// nothing does not walk every member's subscription.
	bumped := false
	if changed {
		c.subscriptionChanged(g)
		c.bumpGroupEpoch(g, now)
		bumped = true
	}
	c.reconcile(g, m, now)
	resp := heartbeatResponse(req.Version, 0, "")
	resp.MemberID, resp.MemberEpoch, resp.HeartbeatIntervalMillis = kmsg.StringPtr(m.id), m.epoch, c.cfg.Consumer.HeartbeatIntervalMs
	if req.MemberEpoch == 0 || req.Topics != nil || assignmentKey(m) != before {
		resp.Assignment = c.assignmentOf(m)
	}
	// The reply waits for the records of what changed (as every reply
	// waits for the records before it), so an epoch or assignment a member
	// saw never goes back after a failover; if they fail, the member is
	// told the mapped error and the coordinator reverts.
	if bumped {
		c.appendGroupEpoch(g, c.failedAnswer(id, req))
	} else {
		c.appendMemberRecords(g, m, c.failedAnswer(id, req))
	}
	c.reply(id, resp)
}

// consumerMemberFor finds the member a heartbeat is from, or adds it when
// it joins (epoch 0); a member joining again with its own id keeps its
// state; a static member that left for now is replaced by the same
// instance's new member, keeping its assignment.
func (c *Coordinator) consumerMemberFor(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, now internaltopic.Time) (*consumerMember, int16, string) {
	cg := g.consumer
	m := cg.members[req.MemberID]
	if req.MemberEpoch > 0 {
		switch {
		case m == nil:
			return nil, kerr.UnknownMemberID.Code, fmt.Sprintf("member %s is not in group %s", req.MemberID, g.id)
		case m.leftStatic:
			// Its epoch is -2 now, as Kafka records it: the instance
			// comes back as a new member at epoch 0.
			return nil, kerr.FencedMemberEpoch.Code, fmt.Sprintf("member %s left the group for now (epoch -2); its instance rejoins at epoch 0", req.MemberID)
		case req.MemberEpoch == m.epoch:
		case req.MemberEpoch == m.previousEpoch && req.Topics != nil && c.ownedWithin(req.Topics, m.assigned):
			// The member missed the answer that moved it on.
		default:
			return nil, kerr.FencedMemberEpoch.Code, fmt.Sprintf("member epoch %d is not the member's epoch %d", req.MemberEpoch, m.epoch)
		}
		return m, 0, ""
	}
	if m != nil {
		// The member joins again with its own id: the answer to its
		// join was lost and the client sent it again, or it was fenced
		// and rejoins. As in Kafka, it gets its state back as it is (its
		// epoch, assignment and assignment epochs): the group does not
		// move on, and its commits at the epochs it had stay valid for
		// what it still holds. It may not change its instance id.
		if !sameInstance(m.instanceID, req.InstanceID) {
			return nil, kerr.InvalidRequest.Code, fmt.Sprintf("member %s joins with instance id %s, not its own %s",
				m.id, instanceName(req.InstanceID), instanceName(m.instanceID))
		}
		m.leftStatic = false
		return m, 0, ""
	}
	if req.InstanceID != nil {
		if holder, ok := cg.static[*req.InstanceID]; ok {
			old := cg.members[holder]
			if !old.leftStatic {
				return nil, kerr.UnreleasedInstanceID.Code, fmt.Sprintf("instance %s is still used by member %s", *req.InstanceID, holder)
			}
			// The instance comes back: its new member takes the old
			// one's place and assignment, with no rebalance.
			delete(cg.members, holder)
			m = old
			m.id, m.leftStatic = req.MemberID, false
			cg.members[m.id] = m
			cg.static[*req.InstanceID] = m.id
			cg.target[m.id] = cg.target[holder]
			delete(cg.target, holder)
			return m, 0, ""
		}
	}
	m = &consumerMember{id: req.MemberID, assigned: tpSet{}, revoking: tpSet{}, assignedAt: map[topicPartition]int32{},
		revocationDeadlineMs: noDeadline, rebalanceTimeoutMs: req.RebalanceTimeoutMillis}
	cg.members[m.id] = m
	if req.InstanceID != nil {
		cg.static[*req.InstanceID] = m.id
	}
	cg.target[m.id] = tpSet{}
	return m, 0, ""
}

// sameInstance says whether two group instance ids (nil: none) are equal.
func sameInstance(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func instanceName(id *string) string {
	if id == nil {
		return "null"
	}
	return *id
}

// updateMember takes the fields a heartbeat sets (null ones are
// unchanged) and says whether the subscription or assignor changed.
func (c *Coordinator) updateMember(m *consumerMember, req *kmsg.ConsumerGroupHeartbeatRequest, client Client, pattern *regexp.Regexp) bool {
	changed := false
	m.clientID, m.clientHost = client.ID, client.Host
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.InstanceID != nil {
		m.instanceID = req.InstanceID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.subscribedNames) {
			m.subscribedNames, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.pattern, changed = *req.SubscribedTopicRegex, pattern, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.serverAssignor {
		m.serverAssignor, changed = *req.ServerAssignor, true
	}
	if m.epoch == 0 && m.state == memberStable && len(m.assigned) == 0 {
		changed = true // a new member always moves the group on
	}
	return changed
}

// ownsAny says whether the topics a member reports own any of set.
func (c *Coordinator) ownsAny(topics []kmsg.ConsumerGroupHeartbeatRequestTopic, set tpSet) bool {
	for _, t := range topics {
		name, ok := c.topics.nameOf(t.TopicID)
		if !ok {
			continue
		}
		for _, p := range t.Partitions {
			if _, ok := set[topicPartition{topic: name, partition: p}]; ok {
				return true
			}
		}
	}
	return false
}

// ownedWithin says whether the topics a member reports are all in set.
func (c *Coordinator) ownedWithin(topics []kmsg.ConsumerGroupHeartbeatRequestTopic, set tpSet) bool {
	for _, t := range topics {
		name, ok := c.topics.nameOf(t.TopicID)
		if !ok {
			return false
		}
		for _, p := range t.Partitions {
			if _, ok := set[topicPartition{topic: name, partition: p}]; !ok {
				return false
			}
		}
	}
	return true
}

func (c *Coordinator) consumerLeave(g *group, id internaltopic.RequestID, req *kmsg.ConsumerGroupHeartbeatRequest, now internaltopic.Time) {
	cg := g.consumer
	resp := heartbeatResponse(req.Version, 0, "")
	resp.MemberID, resp.MemberEpoch = kmsg.StringPtr(req.MemberID), req.MemberEpoch
	m := cg.members[req.MemberID]
	switch {
	case m == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		c.reply(id, resp)
	case req.MemberEpoch == -2 && m.instanceID != nil:
		// A static member leaving for now keeps its place until its
		// session ends.
		m.leftStatic = true
		c.appendGroupEpoch(g, c.failedAnswer(id, req))
		c.reply(id, resp)
	default:
		c.removeConsumerMember(g, m, now)
		c.appendGroupEpoch(g, c.failedAnswer(id, req))
		c.reply(id, resp)
	}
}

// removeConsumerMember drops a member and moves the group epoch on.
func (c *Coordinator) removeConsumerMember(g *group, m *consumerMember, now internaltopic.Time) {
	cg := g.consumer
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	c.subscriptionChanged(g)
	c.bumpGroupEpoch(g, now)
}

// consumerTick ends sessions and revocations that ran out of time.
func (c *Coordinator) consumerTick(g *group, now internaltopic.Time) {
	removed := false
	for _, m := range g.consumer.sortedMembers() {
		if now.MonoMs >= m.sessionDeadlineMs || now.MonoMs >= m.revocationDeadlineMs {
			c.removeConsumerMember(g, m, now)
			removed = true
		}
	}
	if removed {
		// The members' next answers wait for this record.
		c.appendGroupEpoch(g, func(int16, internaltopic.Time) {})
	}
}

// subscriptionChanged recomputes the partition counts of the topics the
// members subscribe to, and says whether they changed.
func (c *Coordinator) subscriptionChanged(g *group) bool {
	cg := g.consumer
	next := map[string]subscribedTopic{}
	for _, m := range cg.members {
		for topic := range c.memberTopics(m) {
			t := c.topics.byName[topic]
			next[topic] = subscribedTopic{id: t.ID, partitions: t.Partitions}
		}
	}
	if len(next) == len(cg.subscribed) {
		same := true
		for t, n := range next {
			if old, ok := cg.subscribed[t]; !ok || old != n {
				same = false
				break
			}
		}
		if same {
			return false
		}
	}
	cg.subscribed = next
	return true
}

// memberTopics are the existing topics a member subscribes to, by name or
// by its regular expression (matched against whole topic names).
func (c *Coordinator) memberTopics(m *consumerMember) map[string]bool {
	out := map[string]bool{}
	for _, name := range m.subscribedNames {
		if _, ok := c.topics.byName[name]; ok {
			out[name] = true
		}
	}
	if m.pattern != nil {
		for _, name := range c.topics.names {
			if m.pattern.MatchString(name) {
				out[name] = true
			}
		}
	}
	return out
}

// topicsChanged moves the epoch of every consumer group whose subscribed
// topics changed (created, deleted, grown): members learn their new
// targets on their next heartbeats.
func (c *Coordinator) topicsChanged(now internaltopic.Time) {
	if c.loading {
		return
	}
	for _, g := range c.sortedGroups() {
		if g.kind == kindConsumer && len(g.consumer.members) > 0 && c.subscriptionChanged(g) {
			c.bumpGroupEpoch(g, now)
			c.appendGroupEpoch(g, func(int16, internaltopic.Time) {})
		}
	}
}

// bumpGroupEpoch moves the group epoch on and computes the new target
// assignment.
func (c *Coordinator) bumpGroupEpoch(g *group, now internaltopic.Time) {
	cg := g.consumer
	cg.epoch++
	c.rebalances++
	cg.assignor = c.selectAssignor(cg)
	members := cg.sortedMembers()
	subs := make(map[string]map[string]bool, len(members))
	for _, m := range members {
		subs[m.id] = c.memberTopics(m)
	}
	partitions := make(map[string]int32, len(cg.subscribed))
	for t, st := range cg.subscribed {
		partitions[t] = st.partitions
	}
	if cg.assignor == assignorRange {
		cg.target = assignRange(members, subs, partitions)
	} else {
		cg.target = assignUniform(members, subs, partitions, cg.target)
	}
	cg.assignmentEpoch = cg.epoch
	g.stateSinceWallMs = now.WallMs
}

// selectAssignor is the server assignor most members ask for (ties: the
// first of uniform, range); uniform when none asks.
func (c *Coordinator) selectAssignor(cg *consumerGroup) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.serverAssignor != "" {
			votes[m.serverAssignor]++
		}
	}
	if votes[assignorRange] > votes[assignorUniform] {
		return assignorRange
	}
	return assignorUniform
}

// reconcile moves a member toward its target: it first gives up what the
// target does not hold (keeping its epoch), then reaches the target epoch
// and takes the target partitions no other member owns.
func (c *Coordinator) reconcile(g *group, m *consumerMember, now internaltopic.Time) {
	cg := g.consumer
	if m.epoch == cg.assignmentEpoch && m.state == memberStable {
		return
	}
	target := cg.target[m.id]
	for tp := range m.assigned {
		if _, keep := target[tp]; !keep {
			delete(m.assigned, tp)
			m.revoking[tp] = struct{}{}
		}
	}
	if len(m.revoking) > 0 {
		if m.state != memberUnrevoked {
			m.state = memberUnrevoked
			m.revocationDeadlineMs = now.MonoMs + int64(m.rebalanceTimeoutMs)
		}
		return
	}
	m.revocationDeadlineMs = noDeadline
	unreleased := 0
	for _, p := range cg.missing(m, target) {
		if p.owned {
			unreleased++
			continue
		}
		m.assigned[p.tp] = struct{}{}
		m.assignedAt[p.tp] = cg.assignmentEpoch // the epoch the member reaches below
	}
	if m.epoch != cg.assignmentEpoch {
		m.previousEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased > 0 {
		m.state = memberUnreleased
	}
}

// missingPartition is a partition of a member's target it does not own
// yet, and whether another member still owns it (assigned or revoking).
type missingPartition struct {
	tp    topicPartition
	owned bool
}

// missing lists the partitions of target that m does not own, each with
// whether another member owns it. It looks each up in the other members'
// sets rather than gathering every partition the group owns: a member
// reconciling in a large group misses a few partitions of many, and this
// runs on each of its heartbeats.
func (cg *consumerGroup) missing(m *consumerMember, target tpSet) []missingPartition {
	var missing []missingPartition
	for tp := range target {
		if _, have := m.assigned[tp]; !have {
			missing = append(missing, missingPartition{tp: tp})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	left := len(missing)
	for _, other := range cg.members {
		if other == m || len(other.assigned)+len(other.revoking) == 0 {
			continue
		}
		for i := range missing {
			if missing[i].owned {
				continue
			}
			_, a := other.assigned[missing[i].tp]
			_, r := other.revoking[missing[i].tp]
			if a || r {
				missing[i].owned = true
				left--
			}
		}
		if left == 0 {
			break
		}
	}
	return missing
}

// revoked drops the partitions the member acknowledged giving up.
func (m *consumerMember) revoked() {
	for tp := range m.revoking {
		delete(m.assignedAt, tp)
	}
	clear(m.revoking)
}

// assignmentKey fingerprints a member's epoch and assignment, to tell
// whether a heartbeat changed them.
func assignmentKey(m *consumerMember) string {
	return fmt.Sprint(m.epoch, m.assigned.sorted())
}

// assignmentOf is a member's assignment as a heartbeat answer carries it.
func (c *Coordinator) assignmentOf(m *consumerMember) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, tp := range m.assigned.sorted() {
		n := len(a.Topics)
		id := c.topics.byName[tp.topic].ID
		if n == 0 || a.Topics[n-1].TopicID != id {
			a.Topics = append(a.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: id})
			n++
		}
		a.Topics[n-1].Partitions = append(a.Topics[n-1].Partitions, tp.partition)
	}
	return &a
}

// convertToConsumer makes an empty classic group (or a new one) a consumer
// group, keeping its offsets.
func (c *Coordinator) convertToConsumer(g *group, now internaltopic.Time) {
	if g.generation > 0 || g.protocolType != "" {
		c.append([]internaltopic.Record{groupTombstone(g.id)}, func(int16, internaltopic.Time) {})
	}
	offsets, pending := g.offsets, g.pendingCommits
	*g = *newClassicGroup(g.id, now)
	g.offsets, g.pendingCommits = offsets, pending
	g.kind, g.consumer = kindConsumer, newConsumerGroup()
}

// convertToClassic makes an empty consumer group a classic group, keeping
// its offsets.
func (c *Coordinator) convertToClassic(g *group, now internaltopic.Time) {
	c.append(c.consumerGroupTombstones(g), func(int16, internaltopic.Time) {})
	offsets, pending := g.offsets, g.pendingCommits
	*g = *newClassicGroup(g.id, now)
	g.offsets, g.pendingCommits = offsets, pending
}

// validateConsumerOffsetCommit checks an offset commit to a consumer
// group: from outside the group while it has no members, or from a member.
// A member at its epoch commits any partition; one behind its epoch (it
// has not seen the heartbeat answer that moved it on, KIP-1251) commits the
// partitions it was assigned at or before the epoch it sent, and the fence
// it returns refuses the others (STALE_MEMBER_EPOCH); an epoch ahead of the
// member's is stale, and so is every epoch of a static member that left for
// now (its epoch is -2).
func (c *Coordinator) validateConsumerOffsetCommit(g *group, memberID string, epoch int32) (partitionFence, int16) {
	cg := g.consumer
	if epoch < 0 && len(cg.members) == 0 {
		return nil, 0
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return nil, kerr.UnknownMemberID.Code
	case m.leftStatic:
		// A static member that left for now is at epoch -2: every
		// epoch it can send is ahead of that.
		return nil, kerr.StaleMemberEpoch.Code
	case epoch == m.epoch:
		return nil, 0
	case epoch > m.epoch:
		return nil, kerr.StaleMemberEpoch.Code
	}
	return func(tp topicPartition) int16 {
		if at, ok := m.assignedAt[tp]; ok && at <= epoch {
			return 0
		}
		return kerr.StaleMemberEpoch.Code
	}, 0
}

// validateConsumerOffsetFetch checks an OffsetFetch naming a member.
func (c *Coordinator) validateConsumerOffsetFetch(g *group, memberID string, epoch int32) int16 {
	if epoch < 0 && memberID == "" {
		return 0
	}
	m := g.consumer.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case epoch != m.epoch, m.leftStatic:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

func (c *Coordinator) consumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group, dg.AuthorizedOperations = id, -2147483648
		g := c.groups[id]
		switch {
		case id == "":
			dg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil || g.kind != kindConsumer:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := fmt.Sprintf("group %s not found", id)
			if g != nil {
				msg = fmt.Sprintf("group %s is not a consumer group", id)
			}
			dg.ErrorMessage = &msg
		default:
			c.describeConsumerGroup(g, &dg)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeConsumerGroup(g *group, dg *kmsg.ConsumerGroupDescribeResponseGroup) {
	cg := g.consumer
	dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.state().String(), cg.epoch, cg.assignmentEpoch, cg.assignor
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.id, m.instanceID, m.rackID, m.epoch
		dm.ClientID, dm.ClientHost, dm.SubscribedTopics, dm.MemberType = m.clientID, m.clientHost, m.subscribedNames, 1
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.regex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
		}
		dm.Assignment, dm.TargetAssignment = c.describedAssignment(m.assigned), c.describedAssignment(cg.target[m.id])
		dg.Members = append(dg.Members, dm)
	}
}

func (c *Coordinator) describedAssignment(set tpSet) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, tp := range set.sorted() {
		n := len(a.TopicPartitions)
		if n == 0 || a.TopicPartitions[n-1].Topic != tp.topic {
			a.TopicPartitions = append(a.TopicPartitions, kmsg.AssignmentTopicPartition{Topic: tp.topic, TopicID: c.topics.byName[tp.topic].ID})
			n++
		}
		a.TopicPartitions[n-1].Partitions = append(a.TopicPartitions[n-1].Partitions, tp.partition)
	}
	return a
}
