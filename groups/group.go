package groups

import (
	"math"
	"slices"

	"gregor/logstore/internaltopic"
)

// groupKind says which protocol a group's members speak: they never mix.
type groupKind int8

const (
	// kindClassic groups rebalance with JoinGroup and SyncGroup; a group
	// that only stores offsets is a classic group without protocol type.
	kindClassic groupKind = iota
	// kindConsumer groups are KIP-848's: ConsumerGroupHeartbeat, with the
	// assignment computed here.
	kindConsumer
)

func (k groupKind) String() string {
	if k == kindConsumer {
		return "consumer"
	}
	return "classic"
}

// groupState is a group's state, under Kafka's names.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
	// Consumer group states besides Empty, Stable and Dead.
	stateAssigning
	stateReconciling
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	case stateDead:
		return "Dead"
	case stateAssigning:
		return "Assigning"
	case stateReconciling:
		return "Reconciling"
	}
	return "Unknown"
}

// noDeadline is a deadline that never comes.
const noDeadline = math.MaxInt64

// topicPartition names a partition by topic name.
type topicPartition struct {
	topic     string
	partition int32
}

func compareTopicPartitions(a, b topicPartition) int {
	switch {
	case a.topic < b.topic:
		return -1
	case a.topic > b.topic:
		return 1
	case a.partition < b.partition:
		return -1
	case a.partition > b.partition:
		return 1
	}
	return 0
}

// offsetEntry is a committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	// commitWallMs is when it was committed; expireWallMs, when an old
	// client asked for its own retention (0: the broker's).
	commitWallMs int64
	expireWallMs int64
	// topicID is the id the topic had when the offset was committed
	// (zero if a record of an older version left it out): an offset of
	// a topic deleted and created again under its name is not the new
	// topic's.
	topicID [16]byte
}

// group is one group: a classic or a consumer group, and its offsets.
type group struct {
	id    string
	kind  groupKind
	state groupState
	// stateSinceWallMs is when the group entered its state (Kafka's
	// current state timestamp): offsets of an empty group expire counting
	// from it.
	stateSinceWallMs int64

	// The classic protocol.
	protocolType string
	protocolName string
	generation   int32
	leader       string
	members      []*member // in join order
	byID         map[string]*member
	static       map[string]string // group instance id → member id
	// pending are member ids handed out with MEMBER_ID_REQUIRED (KIP-394)
	// and the monotonic time at which they lapse.
	pending         map[string]int64
	numAwaitingJoin int
	newMemberAdded  bool
	// joinDeadlineMs ends the join phase of a rebalance (noDeadline: none);
	// initialDelay says it is group.initial.rebalance.delay.ms, extended
	// while members keep joining by up to initialRemainingMs.
	joinDeadlineMs     int64
	initialDelay       bool
	initialRemainingMs int64
	// syncDeadlineMs is when members that have not sent SyncGroup since
	// the join phase ended are removed (noDeadline: none).
	syncDeadlineMs int64
	pendingSync    map[string]bool
	// subscribedTopics are the topics the members' consumer protocol
	// metadata names, as of the current generation (nil: unknown).
	subscribedTopics map[string]bool

	// offsets are the committed offsets; pendingCommits counts the
	// commits of each partition waiting for their append.
	offsets        map[topicPartition]offsetEntry
	pendingCommits map[topicPartition]int

	consumer *consumerGroup
}

func newClassicGroup(id string, now internaltopic.Time) *group {
	return &group{id: id, kind: kindClassic, state: stateEmpty, stateSinceWallMs: now.WallMs,
		joinDeadlineMs: noDeadline, syncDeadlineMs: noDeadline,
		byID: map[string]*member{}, static: map[string]string{}, pending: map[string]int64{}, pendingSync: map[string]bool{},
		offsets: map[topicPartition]offsetEntry{}, pendingCommits: map[topicPartition]int{}}
}

func (g *group) transition(s groupState, now internaltopic.Time) {
	g.state = s
	g.stateSinceWallMs = now.WallMs
}

// stateName is the group's state as ListGroups and describe name it.
func (g *group) stateName() string {
	if g.kind == kindConsumer {
		return g.consumer.state().String()
	}
	return g.state.String()
}

// isEmpty says whether the group has no members (of either protocol).
func (g *group) isEmpty() bool {
	if g.kind == kindConsumer {
		return len(g.consumer.members) == 0
	}
	return len(g.members) == 0
}

// nextDeadlineMs is the group's earliest deadline.
func (g *group) nextDeadlineMs() int64 {
	if g.kind == kindConsumer {
		return g.consumer.nextDeadlineMs()
	}
	next := min(g.joinDeadlineMs, g.syncDeadlineMs)
	for _, m := range g.members {
		next = min(next, m.heartbeatDeadlineMs)
	}
	for _, dl := range g.pending {
		next = min(next, dl)
	}
	return next
}

// sortedOffsets lists the partitions with committed offsets, sorted.
func (g *group) sortedOffsets() []topicPartition { return sortedPartitions(g.offsets) }

// sortedPartitions are the partitions of offsets, sorted.
func sortedPartitions(offsets map[topicPartition]offsetEntry) []topicPartition {
	out := make([]topicPartition, 0, len(offsets))
	for tp := range offsets {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out
}

// protocol is one protocol a classic member supports, and its metadata.
type protocol struct {
	name     string
	metadata []byte
}

// member is a member of a classic group.
type member struct {
	id                                   string
	instanceID                           *string
	clientID, clientHost                 string
	rebalanceTimeoutMs, sessionTimeoutMs int32
	protocolType                         string
	protocols                            []protocol
	assignment                           []byte
	// join and sync are the member's JoinGroup and SyncGroup waiting for
	// an answer.
	join, sync *waiting
	// isNew is set until the member's first rebalance completes: its join
	// is bounded by NewMemberJoinTimeoutMs, not its session.
	isNew bool
	// heartbeatDeadlineMs is when the member's session lapses unless it
	// heartbeats (noDeadline while it waits in a rebalance).
	heartbeatDeadlineMs int64
}

// waiting is a request the coordinator answers later.
type waiting struct {
	id      internaltopic.RequestID
	version int16
}

// metadataFor is the member's metadata for protocol name (nil if none).
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches says whether protocols are exactly the member's.
func (m *member) matches(protocols []protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b protocol) bool {
		return a.name == b.name && string(a.metadata) == string(b.metadata)
	})
}

func (m *member) isStatic() bool { return m.instanceID != nil }
