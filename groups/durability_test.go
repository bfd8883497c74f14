package groups

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"gregor/logstore/internaltopic"
)

// durabilityModel drives a coordinator whose appends are acknowledged
// late (in order, as the high watermark passes them) or fail (any of them),
// the way a partition answers a produce with acks=all; it reloads the coordinator from the acknowledged records
// whenever the core asks (Ready.Reload), and plays the clients of one
// consumer group, which only ever see what the replies tell them.
type durabilityModel struct {
	c       *Coordinator
	cfg     Config
	now     internaltopic.Time
	topics  []Topic
	log     []internaltopic.Record
	pending []Append
	nextID  internaltopic.RequestID
	// asking maps a request in flight to its member; members is each
	// member's view: its epoch (0: it must join) and its assignment.
	asking   map[internaltopic.RequestID]string
	epochs   map[string]int32
	assigned map[string][]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic
	// durableEpoch is group k's epoch in the acknowledged records; owners,
	// which member was told it owns a partition at an epoch.
	durableEpoch int32
	owners       map[int32]map[topicPartition]string
}

func (m *durabilityModel) heartbeat(t *rapid.T, member string, leave bool) {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.RebalanceTimeoutMillis = 1, "k", member, 4000
	req.MemberEpoch = m.epochs[member]
	switch {
	case req.MemberEpoch == 0:
		req.SubscribedTopicNames = []string{"a", "b"}
	case leave:
		req.MemberEpoch = -1
	default:
		req.RebalanceTimeoutMillis = -1
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, a := range m.assigned[member] {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: a.TopicID, Partitions: a.Partitions})
		}
	}
	m.nextID++
	m.asking[m.nextID] = member
	m.c.Handle(m.nextID, req, Client{ID: member, Host: "/h"}, m.now)
	m.drain(t)
}

// acknowledge reports pending append i: acknowledged (its records join
// the log) or failed.
func (m *durabilityModel) acknowledge(t *rapid.T, i int, code int16) {
	ap := m.pending[i]
	m.pending = append(m.pending[:i:i], m.pending[i+1:]...)
	if code == 0 {
		m.log = append(m.log, ap.Records...)
		for _, r := range ap.Records {
			if !bytes.Equal(r.Key, consumerGroupKey("k")) {
				continue
			}
			if r.Value == nil {
				m.durableEpoch, m.owners = 0, map[int32]map[topicPartition]string{}
				continue
			}
			rd := kbin.Reader{Src: r.Value}
			rd.Int16()
			m.durableEpoch = rd.Int32()
		}
	}
	m.c.Appended(ap.ID, code, m.now)
	m.drain(t)
}

func (m *durabilityModel) drain(t *rapid.T) {
	for {
		rd := m.c.Ready()
		if rd.Empty() {
			m.checkWritten(t)
			return
		}
		m.pending = append(m.pending, rd.Appends...)
		for _, r := range rd.Replies {
			m.answered(t, r)
		}
		if rd.Reload {
			m.pending = nil // never acknowledged: not in the log
			m.c = NewCoordinator(m.cfg)
			if len(m.log) > 0 {
				if _, err := m.c.Load(EncodeBatch(m.log, m.now.WallMs), 0); err != nil {
					t.Fatal(err)
				}
			}
			m.c.SetTopics(m.topics, m.now)
			m.c.Loaded(m.now)
		}
	}
}

// checkWritten checks that the coordinator asked for the records of
// every change of its consumer groups: what it remembers writing is their
// whole state (a heartbeat writes its member's records alone).
func (m *durabilityModel) checkWritten(t *rapid.T) {
	for _, g := range m.c.groups {
		if g.kind != kindConsumer || m.c.failed {
			continue
		}
		// The group's subscribed partition counts, which a heartbeat
		// that changed nothing does not recompute, are current.
		if m.c.subscriptionChanged(g) {
			t.Fatalf("group %s: its subscribed partition counts were stale", g.id)
		}
		want := m.c.consumerRecordsOf(g)
		if len(want) != len(g.consumer.written) {
			t.Fatalf("group %s: %d records written, its state is %d", g.id, len(g.consumer.written), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(g.consumer.written[k], v) {
				t.Fatalf("group %s: record %x not written as its state is", g.id, k)
			}
		}
	}
}

// answered checks a reply against the records: a member is told only an
// epoch that is recorded, and no two members own a partition at one epoch.
func (m *durabilityModel) answered(t *rapid.T, r Reply) {
	member := m.asking[r.ID]
	delete(m.asking, r.ID)
	resp := r.Response.(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 || resp.MemberEpoch < 0 {
		m.epochs[member], m.assigned[member] = 0, nil
		return
	}
	if resp.MemberEpoch > m.durableEpoch {
		t.Fatalf("%s told epoch %d; the records hold epoch %d", member, resp.MemberEpoch, m.durableEpoch)
	}
	m.epochs[member] = resp.MemberEpoch
	if resp.Assignment != nil {
		m.assigned[member] = resp.Assignment.Topics
	}
	owners := m.owners[resp.MemberEpoch]
	if owners == nil {
		owners = map[topicPartition]string{}
		m.owners[resp.MemberEpoch] = owners
	}
	for _, a := range m.assigned[member] {
		for _, p := range a.Partitions {
			tp := topicPartition{topic: string(a.TopicID[:1]), partition: p}
			if other, ok := owners[tp]; ok && other != member {
				t.Fatalf("partition %v told to %s and %s at epoch %d", tp, other, member, resp.MemberEpoch)
			}
			owners[tp] = member
		}
	}
}

// Whatever appends fail or lag, a consumer group member is told only
// epochs whose records are acknowledged, and two members are never told
// one partition at one epoch, across the reloads failed appends cause.
func TestRepliesWaitForRecords(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := Config{InitialRebalanceDelayMs: -1, Entropy: &countingReader{}, Consumer: ConsumerConfig{SessionTimeoutMs: 8000}}
		m := &durabilityModel{cfg: cfg, asking: map[internaltopic.RequestID]string{}, epochs: map[string]int32{},
			assigned: map[string][]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}, owners: map[int32]map[topicPartition]string{},
			topics: []Topic{{Name: "a", ID: [16]byte{1}, Partitions: 3}, {Name: "b", ID: [16]byte{2}, Partitions: 2}}}
		m.c = NewCoordinator(cfg)
		m.c.SetTopics(m.topics, m.now)
		m.c.Loaded(m.now)
		members := []string{"A", "B", "C"}
		for i := rapid.IntRange(1, 80).Draw(t, "steps"); i > 0; i-- {
			switch rapid.IntRange(0, 7).Draw(t, "op") {
			case 0, 1, 2: // a member not waiting for an answer heartbeats
				member := members[rapid.IntRange(0, 2).Draw(t, "member")]
				waiting := false
				for _, w := range m.asking {
					waiting = waiting || w == member
				}
				if !waiting {
					m.heartbeat(t, member, rapid.IntRange(0, 9).Draw(t, "leave") == 0)
				}
			case 3:
				m.now.MonoMs += int64(rapid.IntRange(0, 5000).Draw(t, "ms"))
				m.now.WallMs = m.now.MonoMs
				m.c.Tick(m.now)
				m.drain(t)
			case 4, 5: // the partition acknowledges its oldest append (the high watermark passed it)
				if len(m.pending) > 0 {
					m.acknowledge(t, 0, 0)
				}
			case 6:
				if len(m.pending) > 0 {
					code := []int16{kerr.NotEnoughReplicas.Code, kerr.RequestTimedOut.Code, kerr.NotLeaderForPartition.Code}[rapid.IntRange(0, 2).Draw(t, "error")]
					m.acknowledge(t, rapid.IntRange(0, len(m.pending)-1).Draw(t, "failed"), code)
				}
			case 7: // b grows or shrinks
				m.topics[1].Partitions = int32(rapid.IntRange(1, 4).Draw(t, "b partitions"))
				m.c.SetTopics(m.topics, m.now)
				m.drain(t)
			}
		}
	})
}
