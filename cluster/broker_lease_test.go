package cluster

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// leaseModel runs brokers' lifecycle cores against a controller core over
// a network that delays, reorders and loses requests and answers, with
// membership failure reports and controller failovers, all on one clock,
// and checks the lease's promise: whenever the controller fences a broker
// that did not ask for it, that broker's lease has already lapsed.
type leaseModel struct {
	c       *Controller
	now     int64
	brokers []*BrokerLifecycle
	// requests are sent and not yet delivered; answers are the
	// controller's, not yet delivered back.
	requests []leaseMessage
	answers  []leaseMessage
	tokens   int
	byToken  map[int]leaseMessage
	// fences counts the fences of live brokers the model saw.
	fences int
	// sole says the controller's node (broker 1's, NodeID 1) is the
	// metadata quorum's only voter: it answers broker 1's heartbeats
	// itself, and broker 1's lease is valid as a sole voter's
	// (SoleVoterHold).
	sole bool
}

// hold is what broker id's node says of its own quorum leadership.
func (m *leaseModel) hold(id int32) int64 {
	if m.sole && id == m.c.cfg.NodeID {
		return SoleVoterHold
	}
	return 0
}

type leaseMessage struct {
	broker int32
	req    kmsg.Request
	resp   kmsg.Response
}

func (m *leaseModel) at() Instant { return Instant{WallMs: m.now, MonoMs: m.now} }

func (m *leaseModel) lifecycle(id int32) *BrokerLifecycle { return m.brokers[id-1] }

// collect takes what a broker's core decided to send.
func (m *leaseModel) collect(id int32) {
	if rd := m.lifecycle(id).Ready(); rd.Request != nil {
		m.requests = append(m.requests, leaseMessage{broker: id, req: rd.Request})
	}
}

// drain commits what the controller proposed at once and queues its
// answers, checking each commit.
func (m *leaseModel) drain(t *rapid.T) {
	for rd := m.c.Ready(); !rd.Empty(); rd = m.c.Ready() {
		for _, p := range rd.Proposals {
			before := m.c.Image()
			m.c.Committed(p.Batch.Epoch)
			m.checkFences(t, before, m.c.Image())
		}
		// The brokers apply the metadata at once (so the controller
		// unfences them once they heartbeat).
		for _, b := range m.brokers {
			b.MetadataApplied(m.c.Image().LastOffset())
		}
		for _, a := range rd.Answers {
			asked := m.byToken[a.Token.(int)]
			m.answers = append(m.answers, leaseMessage{broker: asked.broker, req: asked.req, resp: a.Response})
		}
	}
}

// checkFences fails when the controller fenced a broker whose lease holds.
func (m *leaseModel) checkFences(t *rapid.T, before, after *MetadataImage) {
	for id := int32(1); id <= int32(len(m.brokers)); id++ {
		b0, ok0 := before.Broker(id)
		b1, ok1 := after.Broker(id)
		if !ok0 || !ok1 || b0.Fenced || !b1.Fenced || b0.Epoch != b1.Epoch {
			continue
		}
		m.fences++
		if m.lifecycle(id).Lease().Valid(m.now, m.hold(id)) {
			until, _ := m.lifecycle(id).Lease().UntilMs(m.hold(id))
			t.Fatalf("at %d ms the controller fenced broker %d, whose lease holds until %d", m.now, id, until)
		}
	}
}

func (m *leaseModel) pick(t *rapid.T, n int, label string) int {
	return rapid.IntRange(0, n-1).Draw(t, label)
}

func TestBrokerLeaseLapsesBeforeFence(t *testing.T) {
	fences := 0
	rapid.Check(t, func(rt *rapid.T) {
		t := rt
		hb := rapid.Int64Range(50, 3000).Draw(t, "heartbeat")
		session := rapid.Int64Range(hb+1, 8*hb).Draw(t, "session")
		m := &leaseModel{byToken: map[int]leaseMessage{}, sole: rapid.Bool().Draw(t, "sole")}
		m.c = NewController(ControllerConfig{NodeID: 1, NumPartitions: 1, DefaultReplicationFactor: 3,
			StaticBrokerConfigs: map[string]string{}, Entropy: &scriptEntropy{},
			BrokerSessionTimeoutMs: session, BrokerHeartbeatIntervalMs: hb})
		m.c.BecomeLeader(NewMetadataImage(), m.at())
		for id := int32(1); id <= 3; id++ {
			b := NewBrokerLifecycle(BrokerLifecycleConfig{NodeID: id, IncarnationID: IncarnationID{byte(id)},
				Listeners:           []BrokerEndpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092}},
				HeartbeatIntervalMs: hb, SessionTimeoutMs: session, RetryBackoffMs: 50})
			m.brokers = append(m.brokers, b)
			b.Start(m.at())
			m.collect(id)
		}
		delay := func(label string) {
			if rapid.Bool().Draw(t, label+"?") {
				m.now += rapid.Int64Range(0, 2*hb).Draw(t, label)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"deliver": func(t *rapid.T) {
				if len(m.requests) == 0 {
					t.Skip("nothing sent")
				}
				delay("delay")
				i := m.pick(t, len(m.requests), "request")
				msg := m.requests[i]
				m.requests = slices.Delete(m.requests, i, i+1)
				m.tokens++
				m.byToken[m.tokens] = msg
				msg.req.SetVersion(msg.req.MaxVersion())
				m.c.Handle(m.at(), msg.req, m.tokens)
				m.drain(t)
			},
			"answer": func(t *rapid.T) {
				if len(m.answers) == 0 {
					t.Skip("nothing answered")
				}
				delay("delay")
				i := m.pick(t, len(m.answers), "answer")
				msg := m.answers[i]
				m.answers = slices.Delete(m.answers, i, i+1)
				if m.hold(msg.broker) == SoleVoterHold {
					m.lifecycle(msg.broker).AnsweredLocally(m.at(), msg.req, msg.resp, nil)
				} else {
					m.lifecycle(msg.broker).AnsweredTo(m.at(), msg.req, msg.resp, nil)
				}
				m.collect(msg.broker)
			},
			"lose": func(t *rapid.T) {
				// A request or its answer is lost: the broker's call
				// times out.
				if len(m.requests) == 0 {
					t.Skip("nothing sent")
				}
				delay("delay")
				i := m.pick(t, len(m.requests), "request")
				msg := m.requests[i]
				m.requests = slices.Delete(m.requests, i, i+1)
				m.lifecycle(msg.broker).AnsweredTo(m.at(), msg.req, nil, errors.New("timed out"))
				m.collect(msg.broker)
			},
			"tick": func(t *rapid.T) {
				delay("delay")
				m.c.Tick(m.at())
				m.drain(t)
				for id := int32(1); id <= 3; id++ {
					m.lifecycle(id).Tick(m.at())
					m.collect(id)
				}
			},
			"controller-deadline": func(t *rapid.T) {
				// The controller's next deadline, to the millisecond.
				if d, ok := m.c.NextDeadline(); ok && d > m.now {
					m.now = d
				}
				m.c.Tick(m.at())
				m.drain(t)
			},
			"leader-known": func(t *rapid.T) {
				// A broker learns of a quorum leader: a heartbeat in
				// flight is sent again, the old one's answer dropped.
				id := int32(m.pick(t, 3, "broker") + 1)
				m.lifecycle(id).QuorumLeader(m.at(), int32(m.pick(t, 4, "leader")-1))
				m.collect(id)
			},
			"broker-failed": func(t *rapid.T) {
				m.c.BrokerFailed(int32(m.pick(t, 3, "broker")+1), m.at())
				m.drain(t)
			},
			"conns-closed": func(t *rapid.T) {
				// Evidence never shortens the wait: the broker here lives.
				m.c.BrokerConnectionsClosed(int32(m.pick(t, 3, "broker")+1), m.at())
				m.drain(t)
			},
			"failover": func(t *rapid.T) {
				m.c.ResignLeadership()
				m.drain(t)
				delay("election")
				m.c.BecomeLeader(m.c.Image(), m.at())
				m.drain(t)
			},
		})
		fences += m.fences
	})
	// The test must reach what it checks: live brokers fenced.
	if fences == 0 {
		t.Fatal("no run fenced a live broker")
	}
	t.Logf("%d fences of live brokers checked", fences)
}

// The lease is shorter than the controller's shortest wait before a fence,
// by the drift margin, whichever of its two rules is the shorter.
func TestBrokerLeaseLength(t *testing.T) {
	for _, c := range []struct{ session, hb, fence, lease int64 }{
		{6000, 500, 1000, 900},
		{9000, 2000, 4000, 3600},
		{3000, 2000, 3000, 2700},
		{45, 10, 20, 18},
	} {
		if got := BrokerFenceAfterMs(c.session, c.hb); got != c.fence {
			t.Errorf("BrokerFenceAfterMs(%d, %d) = %d, want %d", c.session, c.hb, got, c.fence)
		}
		if got := BrokerLeaseMs(c.session, c.hb); got != c.lease {
			t.Errorf("BrokerLeaseMs(%d, %d) = %d, want %d", c.session, c.hb, got, c.lease)
		}
	}
}
