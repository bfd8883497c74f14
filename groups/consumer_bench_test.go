package groups

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// benchGroup is a KIP-848 consumer group driven through the core: members
// heartbeat as franz-go does (their owned partitions when they changed,
// nil otherwise), and every append is acknowledged at once.
type benchGroup struct {
	c       *Coordinator
	now     internaltopic.Time
	next    internaltopic.RequestID
	topicID [16]byte
	// epochs and owned are each member's view: its epoch and partitions.
	epochs  map[string]int32
	owned   map[string][]int32
	changed map[string]bool
	records int // records appended
	bytes   int // their keys' and values' bytes
}

func newBenchGroup(b *testing.B, partitions int32) *benchGroup {
	c := NewCoordinator(Config{Entropy: &countingReader{}, Consumer: ConsumerConfig{SessionTimeoutMs: 1 << 30}})
	c.Loaded(internaltopic.Time{})
	g := &benchGroup{c: c, topicID: [16]byte{1}, epochs: map[string]int32{}, owned: map[string][]int32{}, changed: map[string]bool{}}
	c.SetTopics([]Topic{{Name: "t", ID: g.topicID, Partitions: partitions}}, g.now)
	g.drain(b)
	return g
}

// heartbeat sends member's heartbeat and takes its answer.
func (g *benchGroup) heartbeat(b *testing.B, member string) *kmsg.ConsumerGroupHeartbeatResponse {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", member, g.epochs[member]
	req.RebalanceTimeoutMillis = -1
	if req.MemberEpoch == 0 {
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 60000, []string{"t"}
	}
	switch {
	case req.MemberEpoch == 0:
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	case g.changed[member]:
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: g.topicID, Partitions: g.owned[member]}}
		g.changed[member] = false
	}
	g.next++
	g.c.Handle(g.next, req, Client{ID: "kgo", Host: "/127.0.0.1"}, g.now)
	resp := g.drain(b)[0].Response.(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 {
		b.Fatalf("heartbeat of %s: error %d", member, resp.ErrorCode)
	}
	g.epochs[member] = resp.MemberEpoch
	if resp.Assignment != nil {
		var owned []int32
		for _, t := range resp.Assignment.Topics {
			owned = append(owned, t.Partitions...)
		}
		g.owned[member], g.changed[member] = owned, true
	}
	return resp
}

// drain acknowledges every append and returns the replies.
func (g *benchGroup) drain(b *testing.B) []Reply {
	var replies []Reply
	for {
		rd := g.c.Ready()
		replies = append(replies, rd.Replies...)
		if rd.Reload {
			b.Fatal("the coordinator reverted")
		}
		if len(rd.Appends) == 0 {
			return replies
		}
		for _, a := range rd.Appends {
			g.records += len(a.Records)
			for _, r := range a.Records {
				g.bytes += len(r.Key) + len(r.Value)
			}
			g.c.Appended(a.ID, 0, g.now)
		}
	}
}

// stable heartbeats every member in turn until the group is Stable.
func (g *benchGroup) stable(b *testing.B, members []string) {
	for round := 0; ; round++ {
		if round > 50 {
			b.Fatal("the group did not settle in 50 rounds")
		}
		for _, m := range members {
			g.heartbeat(b, m)
		}
		if g.c.groups["g"].consumer.state() == stateStable {
			return
		}
	}
}

func benchMembers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("member-%04d", i)
	}
	return out
}

// BenchmarkConsumerHeartbeat: KIP-848 heartbeats to the core, in a group
// of members subscribed to one topic of partitions. steady: heartbeats of
// a Stable group (each op one heartbeat); join: the members join one after
// another and heartbeat until the group is Stable (each op the whole ramp).
// Reports records and bytes appended per op.
func BenchmarkConsumerHeartbeat(b *testing.B) {
	for _, size := range []struct {
		members    int
		partitions int32
	}{{10, 100}, {200, 2000}} {
		name := fmt.Sprintf("members=%d/partitions=%d", size.members, size.partitions)
		b.Run(name+"/steady", func(b *testing.B) {
			g := newBenchGroup(b, size.partitions)
			members := benchMembers(size.members)
			g.stable(b, members)
			g.records, g.bytes = 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				g.now.MonoMs++
				g.heartbeat(b, members[i%len(members)])
			}
			b.ReportMetric(float64(g.records)/float64(b.N), "records/op")
			b.ReportMetric(float64(g.bytes)/float64(b.N), "bytes/op")
		})
		b.Run(name+"/join", func(b *testing.B) {
			b.ReportAllocs()
			records, bytes := 0, 0
			for range b.N {
				g := newBenchGroup(b, size.partitions)
				members := benchMembers(size.members)
				for i, m := range members {
					g.heartbeat(b, m)
					// The members joined so far heartbeat once more.
					for _, o := range members[:i] {
						g.heartbeat(b, o)
					}
				}
				g.stable(b, members)
				records, bytes = records+g.records, bytes+g.bytes
			}
			b.ReportMetric(float64(records)/float64(b.N), "records/op")
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/op")
		})
	}
}
