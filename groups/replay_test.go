package groups

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"gregor/logstore/internaltopic"
)

// replayModel drives a coordinator with random requests and ticks,
// appending its records to a log at once.
type replayModel struct {
	c        *Coordinator
	cfg      Config
	now      internaltopic.Time
	log      []internaltopic.Record
	nextID   internaltopic.RequestID
	members  map[string][]string // group → member ids a reply handed out
	replies  []Reply
	topics   []Topic
	maxEpoch map[string]int32
}

func (m *replayModel) step(req kmsg.Request) {
	m.nextID++
	m.c.Handle(m.nextID, req, Client{ID: "c", Host: "/h"}, m.now)
	m.drain()
}

func (m *replayModel) drain() {
	for {
		rd := m.c.Ready()
		if rd.Empty() {
			return
		}
		for _, ap := range rd.Appends {
			m.log = append(m.log, ap.Records...)
			m.c.Appended(ap.ID, 0, m.now)
		}
		for _, r := range rd.Replies {
			m.replies = append(m.replies, r)
			if jr, ok := r.Response.(*kmsg.JoinGroupResponse); ok && jr.MemberID != "" {
				m.remember("g", jr.MemberID)
			}
		}
	}
}

func (m *replayModel) remember(group, id string) {
	if !slices.Contains(m.members[group], id) {
		m.members[group] = append(m.members[group], id)
	}
}

// durableView is what replaying the log must reproduce of a coordinator:
// every committed offset, each classic group that is not rebalancing
// (generation, protocol, leader, members and assignments) and each
// consumer group's epoch.
func durableView(c *Coordinator) string {
	out := fmt.Sprint(c.CommittedOffsets())
	for _, g := range c.sortedGroups() {
		switch {
		case g.kind == kindConsumer:
			out += fmt.Sprintf("\n%s consumer epoch=%d", g.id, g.consumer.epoch)
		case g.state == stateStable || g.state == stateEmpty && g.generation > 0:
			out += fmt.Sprintf("\n%s %s gen=%d protocol=%q leader=%q", g.id, g.state, g.generation, g.protocolName, g.leader)
			for _, mb := range g.members {
				out += fmt.Sprintf(" %s=%q", mb.id, mb.assignment)
			}
		}
	}
	return out
}

// rebalancing says whether a classic group's live state is ahead of what
// it stored (a rebalance in progress).
func rebalancing(c *Coordinator) bool {
	for _, g := range c.groups {
		if g.kind == kindClassic && (g.state == statePreparingRebalance || g.state == stateCompletingRebalance) {
			return true
		}
	}
	return false
}

// checkInvariants: consumer group partitions have at most one owner, and
// the epoch of a group never goes back while it exists.
func (m *replayModel) checkInvariants(t *rapid.T) {
	for id := range m.maxEpoch {
		if g := m.c.groups[id]; g == nil || g.kind != kindConsumer {
			delete(m.maxEpoch, id) // deleted: a new group starts over
		}
	}
	for _, g := range m.c.groups {
		if g.kind != kindConsumer {
			continue
		}
		owner := map[topicPartition]string{}
		for _, mb := range g.consumer.members {
			for _, set := range []tpSet{mb.assigned, mb.revoking} {
				for tp := range set {
					if other, ok := owner[tp]; ok && other != mb.id {
						t.Fatalf("%s: %v owned by %s and %s", g.id, tp, other, mb.id)
					}
					owner[tp] = mb.id
					// KIP-1251: every partition a member holds has its
					// assignment epoch, never past the member's.
					if at, ok := mb.assignedAt[tp]; !ok || at > mb.epoch {
						t.Fatalf("%s: %s holds %v with assignment epoch %d (%v) at epoch %d", g.id, mb.id, tp, at, ok, mb.epoch)
					}
				}
			}
			if len(mb.assignedAt) != len(mb.assigned)+len(mb.revoking) {
				t.Fatalf("%s: %s has assignment epochs %v for %v and %v", g.id, mb.id, mb.assignedAt, mb.assigned, mb.revoking)
			}
		}
		if g.consumer.epoch < m.maxEpoch[g.id] {
			t.Fatalf("%s: group epoch went back from %d to %d", g.id, m.maxEpoch[g.id], g.consumer.epoch)
		}
		m.maxEpoch[g.id] = g.consumer.epoch
	}
}

// The live state equals the state rebuilt by replaying __consumer_offsets
// whenever no classic group is mid-rebalance (S11), whatever requests and
// ticks came before; consumer group ownership stays single and epochs
// monotonic, across reloads too.
func TestReplayEquivalence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := Config{InitialRebalanceDelayMs: -1, Entropy: &countingReader{}, Consumer: ConsumerConfig{SessionTimeoutMs: 8000}}
		m := &replayModel{cfg: cfg, members: map[string][]string{}, maxEpoch: map[string]int32{},
			topics: []Topic{{Name: "a", ID: [16]byte{1}, Partitions: 3}, {Name: "b", ID: [16]byte{2}, Partitions: 2}}}
		m.c = NewCoordinator(cfg)
		m.c.SetTopics(m.topics, m.now)
		m.c.Loaded(m.now)
		pick := func(label string, options []string) string {
			if len(options) == 0 {
				return ""
			}
			return options[rapid.IntRange(0, len(options)-1).Draw(t, label)]
		}
		consumers := []string{"A", "B", "C"}
		for i := rapid.IntRange(1, 60).Draw(t, "steps"); i > 0; i-- {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0: // a classic member joins (v3: no member id round trip)
				req := kmsg.NewPtrJoinGroupRequest()
				req.Version, req.Group, req.ProtocolType = 3, "g", "consumer"
				req.MemberID = pick("rejoin", append(m.members["g"], ""))
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 6000
				req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: pick("protocol", []string{"range", "sticky"}), Metadata: []byte{1}}}
				m.step(req)
			case 1: // SyncGroup, assigning every known member something
				g := m.c.groups["g"]
				if g == nil || g.kind != kindClassic {
					continue
				}
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.Generation, req.MemberID = "g", g.generation, pick("syncer", m.members["g"])
				for j, id := range m.members["g"] {
					req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte{byte(j)}})
				}
				m.step(req)
			case 2:
				g := m.c.groups["g"]
				if g == nil || g.kind != kindClassic {
					continue
				}
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.Generation, req.MemberID = "g", g.generation, pick("heartbeater", m.members["g"])
				m.step(req)
			case 3:
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group = "g"
				req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: pick("leaver", m.members["g"])}}
				m.step(req)
			case 4: // an offset commit, in the group or outside it
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group = pick("commit group", []string{"g", "s", "k"})
				req.Generation, req.MemberID = -1, ""
				if g := m.c.groups[req.Group]; g != nil && g.kind == kindClassic && rapid.Bool().Draw(t, "as member") {
					req.Generation, req.MemberID = g.generation, pick("committer", m.members[req.Group])
				}
				p := kmsg.NewOffsetCommitRequestTopicPartition()
				p.Partition, p.Offset = int32(rapid.IntRange(0, 2).Draw(t, "partition")), int64(rapid.IntRange(0, 100).Draw(t, "offset"))
				req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "a", Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
				m.step(req)
			case 5: // a consumer group member heartbeats, joins or leaves
				id := pick("consumer", consumers)
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Group, req.MemberID, req.RebalanceTimeoutMillis = "k", id, 4000
				req.MemberEpoch = 0
				if g := m.c.groups["k"]; g != nil && g.kind == kindConsumer {
					if mb := g.consumer.members[id]; mb != nil {
						req.MemberEpoch = mb.epoch
						if rapid.IntRange(0, 4).Draw(t, "leave") == 0 {
							req.MemberEpoch = -1
						} else if rapid.Bool().Draw(t, "full") {
							// Report owning what it was told, after revoking.
							req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
							for _, tp := range mb.assigned.sorted() {
								req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: m.c.topics.byName[tp.topic].ID, Partitions: []int32{tp.partition}})
							}
						}
					}
				}
				if req.MemberEpoch == 0 {
					req.SubscribedTopicNames = []string{pick("subscription", []string{"a", "b"})}
				}
				m.step(req)
			case 6:
				m.now.MonoMs += int64(rapid.IntRange(0, 7000).Draw(t, "ms"))
				m.now.WallMs = m.now.MonoMs
				m.c.Tick(m.now)
				m.drain()
			case 7:
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{pick("delete", []string{"g", "s", "k"})}
				m.step(req)
			case 8: // topics grow or shrink
				m.topics[1].Partitions = int32(rapid.IntRange(1, 4).Draw(t, "b partitions"))
				m.c.SetTopics(m.topics, m.now)
				m.drain()
			case 9: // a reload: the coordinator fails over to itself
				if rebalancing(m.c) {
					continue
				}
				m.reload(t)
			}
			m.checkInvariants(t)
			if !rebalancing(m.c) {
				replayed := m.replayed(t)
				if got, want := durableView(replayed), durableView(m.c); got != want {
					t.Fatalf("replayed state differs from the live one:\nreplayed: %s\nlive:     %s", got, want)
				}
			}
		}
	})
}

// replayed builds a coordinator from the log.
func (m *replayModel) replayed(t *rapid.T) *Coordinator {
	c := NewCoordinator(m.cfg)
	if len(m.log) > 0 {
		if _, err := c.Load(EncodeBatch(m.log, m.now.WallMs), 0); err != nil {
			t.Fatal(err)
		}
	}
	c.SetTopics(m.topics, m.now)
	c.Loaded(m.now)
	return c
}

// reload replaces the live coordinator by one loaded from the log.
func (m *replayModel) reload(t *rapid.T) {
	m.c = m.replayed(t)
	m.drain()
}
