package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// controllerModel drives a controller with random brokers, heartbeats,
// ticks, failures, ISR changes, elections, reassignments, min.insync.replicas
// changes, lost writes and leadership changes, committing proposals in random steps, and checks the
// invariants after every step (CORRECTNESS.md S1, S5, S10):
//
//   - every partition has an ISR within its replicas (non-empty unless the
//     cluster keeps eligible leader replicas, drawn per run and turned off
//     and on again by UpdateFeatures), and at most
//     one leader, which is in the ISR and an active broker; its ELR and
//     last known ELR (only with the feature) are replicas apart from the
//     ISR and each other (but for the last known leader, first in the last
//     known ELR, which may be in the ELR too), empty while the ISR holds
//     min.insync.replicas;
//   - per partition, leader and partition epochs never decrease, and one
//     leader epoch has one leader (S1);
//   - a new leader comes from the ISR (or the ELR, or the last known ELR
//     once nothing is eligible), unless the topic allows unclean elections
//     or an operator asked for one (S5);
//   - broker epochs only rise (S10);
//   - every request is answered exactly once.
type controllerModel struct {
	c    *Controller
	now  int64
	held []ControllerProposal
	// asked counts requests; answered counts answers per token.
	asked    int
	answered map[int]int
	// leaders maps "topic-partition@leader epoch" to its leader.
	leaders     map[string]int32
	epochs      map[string][2]int32
	brokerEpoch map[int32]int64
	// uncleanAsked says an unclean ElectLeaders is among the held
	// proposals; vouched are the brokers a partition's leader put in its
	// ISR with AlterPartition (completing a reassignment may elect one).
	uncleanAsked bool
	vouched      map[string][]int32
	incarnations int
	// elr says the cluster keeps eligible leader replicas (drawn per run,
	// with min.insync.replicas 2 then).
	elr bool
}

const modelBrokers = 4

func TestControllerInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &controllerModel{answered: map[int]int{}, vouched: map[string][]int32{}, leaders: map[string]int32{}, epochs: map[string][2]int32{}, brokerEpoch: map[int32]int64{}}
		cfg := ControllerConfig{NodeID: 1, NumPartitions: 3, DefaultReplicationFactor: 3, DeleteTopicEnable: true,
			StaticBrokerConfigs: map[string]string{}, Entropy: &scriptEntropy{}, AutoLeaderRebalanceEnable: true,
			LeaderImbalanceCheckIntervalMs: 5_000, UncleanLeaderElectionIntervalMs: 7_000}
		if m.elr = rapid.Bool().Draw(t, "elr"); m.elr {
			cfg.NameCluster, cfg.ClusterID = true, "c"
			cfg.BootstrapFeatures = map[string]int16{EligibleLeaderReplicasFeature: 1}
			cfg.StaticBrokerConfigs["min.insync.replicas"] = "2"
		}
		m.c = NewController(cfg)
		m.c.BecomeLeader(NewMetadataImage(), m.instant())
		for id := int32(1); id <= modelBrokers; id++ {
			m.register(t, id)
		}
		m.commitAll(t)
		for id := int32(1); id <= modelBrokers; id++ {
			m.heartbeat(t, id, false, false)
		}
		m.request(t, createTopicsRequest("a", 3, 3, false))
		m.request(t, createTopicsRequest("b", 2, 2, true))
		m.commitAll(t)
		t.Repeat(map[string]func(*rapid.T){
			"heartbeat": func(t *rapid.T) {
				m.heartbeat(t, m.broker(t), rapid.IntRange(0, 9).Draw(t, "want-fence") == 0, rapid.IntRange(0, 9).Draw(t, "want-shutdown") == 0)
			},
			"restart": func(t *rapid.T) { m.register(t, m.broker(t)) },
			"tick": func(t *rapid.T) {
				m.now += int64(rapid.IntRange(0, 6000).Draw(t, "ms"))
				m.c.Tick(m.instant())
				m.drain(t)
			},
			"broker-failed": func(t *rapid.T) {
				m.c.BrokerFailed(m.broker(t), m.instant())
				m.drain(t)
			},
			"conns-closed": func(t *rapid.T) {
				m.c.BrokerConnectionsClosed(m.broker(t), m.instant())
				m.drain(t)
			},
			"alter-partition": func(t *rapid.T) { m.alterPartition(t) },
			"elect-leaders": func(t *rapid.T) {
				r := kmsg.NewPtrElectLeadersRequest()
				if rapid.Bool().Draw(t, "unclean") {
					r.ElectionType = 1
					m.uncleanAsked = true
				}
				m.request(t, r)
			},
			"reassign": func(t *rapid.T) { m.reassign(t) },
			"min-isr":  func(t *rapid.T) { m.alterMinISR(t) },
			"elr-level": func(t *rapid.T) {
				// An operator turns eligible leader replicas off (a safe
				// downgrade to 0) or on again.
				r := kmsg.NewPtrUpdateFeaturesRequest()
				u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
				u.Feature, u.MaxVersionLevel, u.UpgradeType = EligibleLeaderReplicasFeature, 1, 1
				if elrEnabled(m.view()) {
					u.MaxVersionLevel, u.UpgradeType = 0, 2
				}
				r.FeatureUpdates = append(r.FeatureUpdates, u)
				m.request(t, r)
			},
			"commit": func(t *rapid.T) {
				m.commit(t, rapid.IntRange(0, len(m.held)).Draw(t, "count"))
			},
			"lose": func(t *rapid.T) {
				if len(m.held) == 0 {
					t.Skip("nothing held")
				}
				i := rapid.IntRange(0, len(m.held)-1).Draw(t, "from")
				m.c.Lost(m.held[i].Batch.Epoch, errors.New("lost"))
				m.held = m.held[:i]
				m.drain(t)
			},
			"leadership": func(t *rapid.T) {
				m.c.ResignLeadership()
				m.held = nil
				m.drain(t)
				m.now += int64(rapid.IntRange(0, 20000).Draw(t, "ms"))
				m.c.BecomeLeader(m.c.Image(), m.instant())
				m.uncleanAsked = false
				clear(m.vouched)
			},
			"": func(t *rapid.T) { m.check(t, m.c.Image()); m.check(t, m.c.WorkingImage()) },
		})
		m.commitAll(t)
		for i := 1; i <= m.asked; i++ {
			if m.answered[i] != 1 {
				t.Fatalf("request %d answered %d times", i, m.answered[i])
			}
		}
	})
}

func (m *controllerModel) instant() Instant { return Instant{WallMs: m.now, MonoMs: m.now} }

func (m *controllerModel) broker(t *rapid.T) int32 {
	return int32(rapid.IntRange(1, modelBrokers).Draw(t, "broker"))
}

func (m *controllerModel) request(t *rapid.T, req kmsg.Request) {
	req.SetVersion(req.MaxVersion())
	m.asked++
	if !m.c.Handle(m.instant(), req, m.asked) {
		t.Fatalf("%T not handled", req)
	}
	m.drain(t)
}

func (m *controllerModel) register(t *rapid.T, id int32) {
	r := kmsg.NewPtrBrokerRegistrationRequest()
	r.BrokerID = id
	m.incarnations++
	r.IncarnationID[0], r.IncarnationID[1] = byte(m.incarnations), byte(m.incarnations>>8)
	r.Rack = kmsg.StringPtr(fmt.Sprintf("r%d", id%2))
	for _, f := range SupportedFeatures() {
		rf := kmsg.NewBrokerRegistrationRequestFeature()
		rf.Name, rf.MinSupportedVersion, rf.MaxSupportedVersion = f.Name, f.MinVersion, f.MaxVersion
		r.Features = append(r.Features, rf)
	}
	if b, ok := m.view().Broker(id); ok && rapid.Bool().Draw(t, "clean-shutdown") {
		r.PreviousBrokerEpoch = b.Epoch
	}
	m.request(t, r)
}

func (m *controllerModel) heartbeat(t *rapid.T, id int32, wantFence, wantShutdown bool) {
	w := m.view()
	r := kmsg.NewPtrBrokerHeartbeatRequest()
	r.BrokerID, r.BrokerEpoch = id, -1
	if b, ok := w.Broker(id); ok {
		r.BrokerEpoch = b.Epoch
	}
	r.CurrentMetadataOffset = m.c.Image().LastOffset()
	r.WantFence, r.WantShutdown = wantFence, wantShutdown
	m.request(t, r)
}

func (m *controllerModel) view() *MetadataImage {
	if w := m.c.WorkingImage(); w != nil {
		return w
	}
	return m.c.Image()
}

// alterPartition asks, as the leader of a random partition, for a random
// ISR of its replicas that holds the leader.
func (m *controllerModel) alterPartition(t *rapid.T) {
	w := m.view()
	names := w.TopicNames()
	if len(names) == 0 {
		t.Skip("no topics")
	}
	topic, _ := w.Topic(rapid.SampledFrom(names).Draw(t, "topic"))
	p := topic.Partitions[rapid.IntRange(0, len(topic.Partitions)-1).Draw(t, "partition")]
	if p.Leader < 0 {
		t.Skip("leaderless")
	}
	isr := []int32{p.Leader}
	for _, b := range p.Replicas {
		if b != p.Leader && rapid.Bool().Draw(t, "in-isr") {
			isr = append(isr, b)
		}
	}
	r := kmsg.NewPtrAlterPartitionRequest()
	r.BrokerID = p.Leader
	if b, ok := w.Broker(p.Leader); ok {
		r.BrokerEpoch = b.Epoch
	}
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = topic.ID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = p.Partition, p.LeaderEpoch, p.PartitionEpoch
	for _, b := range isr {
		rp.NewEpochISR = append(rp.NewEpochISR, kmsg.AlterPartitionRequestTopicPartitionNewEpochISR{BrokerID: b, BrokerEpoch: -1})
	}
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	key := fmt.Sprintf("%s-%d", topic.Name, p.Partition)
	m.vouched[key] = append(m.vouched[key], isr...)
	m.request(t, r)
}

func (m *controllerModel) reassign(t *rapid.T) {
	w := m.view()
	names := w.TopicNames()
	if len(names) == 0 {
		t.Skip("no topics")
	}
	topic, _ := w.Topic(rapid.SampledFrom(names).Draw(t, "topic"))
	r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic.Name
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition = int32(rapid.IntRange(0, len(topic.Partitions)-1).Draw(t, "partition"))
	if !rapid.Bool().Draw(t, "cancel") {
		perm := rapid.Permutation([]int32{1, 2, 3, 4}).Draw(t, "replicas")
		rp.Replicas = perm[:rapid.IntRange(1, 4).Draw(t, "rf")]
	}
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	m.request(t, r)
}

// alterMinISR sets a random topic's min.insync.replicas, lowering or
// raising it under partitions that may hold eligible leader replicas
// (seed 25000280: lowered while the ISR was empty).
func (m *controllerModel) alterMinISR(t *rapid.T) {
	names := m.view().TopicNames()
	if len(names) == 0 {
		t.Skip("no topics")
	}
	r := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, rapid.SampledFrom(names).Draw(t, "topic")
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name, rc.Op = "min.insync.replicas", kmsg.IncrementalAlterConfigOpSet
	rc.Value = kmsg.StringPtr(fmt.Sprint(rapid.IntRange(1, 3).Draw(t, "min-isr")))
	rr.Configs = append(rr.Configs, rc)
	r.Resources = append(r.Resources, rr)
	m.request(t, r)
}

func createTopicsRequest(name string, partitions int32, rf int16, unclean bool) *kmsg.CreateTopicsRequest {
	r := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	if unclean {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = "unclean.leader.election.enable", kmsg.StringPtr("true")
		rt.Configs = append(rt.Configs, c)
	}
	r.Topics = append(r.Topics, rt)
	return r
}

// drain takes what the controller did: proposals are held, answers
// counted.
func (m *controllerModel) drain(t *rapid.T) {
	for rd := m.c.Ready(); !rd.Empty(); rd = m.c.Ready() {
		for _, p := range rd.Proposals {
			if len(m.held) > 0 && p.Batch.Epoch != m.held[len(m.held)-1].Image.Epoch {
				t.Fatalf("batch at offset %d follows one ending at %d", p.Batch.Epoch, m.held[len(m.held)-1].Image.Epoch)
			}
			m.held = append(m.held, p)
		}
		for _, a := range rd.Answers {
			m.answered[a.Token.(int)]++
		}
	}
}

func (m *controllerModel) commit(t *rapid.T, n int) {
	for _, p := range m.held[:n] {
		before := m.c.Image()
		m.c.Committed(p.Batch.Epoch)
		m.checkTransition(t, before, p)
	}
	m.held = m.held[n:]
	if len(m.held) == 0 {
		m.uncleanAsked = false
		clear(m.vouched)
	}
	m.drain(t)
}

func (m *controllerModel) commitAll(t *rapid.T) {
	for len(m.held) > 0 {
		m.commit(t, len(m.held))
	}
}

// checkTransition checks a committed batch record by record: elections are
// clean unless allowed, epochs follow S1, broker epochs rise.
func (m *controllerModel) checkTransition(t *rapid.T, before *MetadataImage, p ControllerProposal) {
	w := before
	for _, rec := range p.Batch.Records {
		next := mustApply(w, []MetadataRecord{rec})
		switch r := rec.(type) {
		case PartitionChangeRecord:
			topic, _ := w.TopicByID(r.TopicID)
			old := topic.Partitions[r.Partition]
			nt, _ := next.TopicByID(r.TopicID)
			np := nt.Partitions[r.Partition]
			vouched := m.vouched[fmt.Sprintf("%s-%d", topic.Name, r.Partition)]
			// With eligible leader replicas, a leader may come from the
			// ELR, or from the last known ELR once none is eligible.
			fromELR := slices.Contains(old.ELR, np.Leader) || slices.Contains(old.LastKnownELR, np.Leader) && len(np.ELR) == 0
			if np.Leader >= 0 && np.Leader != old.Leader && !slices.Contains(old.ISR, np.Leader) && !slices.Contains(vouched, np.Leader) && !fromELR &&
				!m.uncleanAsked && !(&Controller{cfg: m.c.cfg}).uncleanElectionEnabled(w, topic) {
				t.Fatalf("%s-%d: broker %d elected from outside the ISR %v (S5)", topic.Name, r.Partition, np.Leader, old.ISR)
			}
		case RegisterBrokerRecord:
			if last, ok := m.brokerEpoch[r.BrokerID]; ok && r.BrokerEpoch < last {
				t.Fatalf("broker %d epoch went from %d to %d (S10)", r.BrokerID, last, r.BrokerEpoch)
			}
			if r.BrokerEpoch != w.Epoch && !m.reRegistered(w, r) {
				t.Fatalf("broker %d epoch %d registered at offset %d", r.BrokerID, r.BrokerEpoch, w.Epoch)
			}
			m.brokerEpoch[r.BrokerID] = r.BrokerEpoch
		}
		w = next
	}
	m.check(t, w)
	for topic := range w.Topics() {
		for _, p := range topic.Partitions {
			key := fmt.Sprintf("%s-%d", topic.Name, p.Partition)
			if last, ok := m.epochs[key]; ok && (p.LeaderEpoch < last[0] || p.PartitionEpoch < last[1]) {
				t.Fatalf("%s epochs went from %v to [%d %d] (S1)", key, last, p.LeaderEpoch, p.PartitionEpoch)
			}
			m.epochs[key] = [2]int32{p.LeaderEpoch, p.PartitionEpoch}
			at := fmt.Sprintf("%s@%d", key, p.LeaderEpoch)
			if leader, ok := m.leaders[at]; ok && leader != p.Leader {
				t.Fatalf("%s led by %d and by %d (S1)", at, leader, p.Leader)
			}
			m.leaders[at] = p.Leader
		}
	}
}

// reRegistered says r amends the registered incarnation (its epoch stays).
func (m *controllerModel) reRegistered(w *MetadataImage, r RegisterBrokerRecord) bool {
	b, ok := w.Broker(r.BrokerID)
	return ok && b.IncarnationID == r.IncarnationID && b.Epoch == r.BrokerEpoch
}

// check checks the partitions of an image.
func (m *controllerModel) check(t *rapid.T, w *MetadataImage) {
	if w == nil {
		return
	}
	for topic := range w.Topics() {
		for _, p := range topic.Partitions {
			where := fmt.Sprintf("%s-%d %+v", topic.Name, p.Partition, p)
			if len(p.ISR) == 0 && !elrEnabled(w) || !containsAll(p.Replicas, p.ISR) || len(slices.Compact(slices.Sorted(slices.Values(p.ISR)))) != len(p.ISR) {
				t.Fatalf("%s: bad ISR", where)
			}
			if !containsAll(p.Replicas, p.AddingReplicas) || !containsAll(p.Replicas, p.RemovingReplicas) {
				t.Fatalf("%s: bad reassignment", where)
			}
			m.checkELR(t, w, topic, p, where)
			if p.Leader == noBroker {
				continue
			}
			if !slices.Contains(p.ISR, p.Leader) {
				t.Fatalf("%s: leader outside the ISR", where)
			}
			if b, ok := w.Broker(p.Leader); !ok || !b.Active() {
				t.Fatalf("%s: leader %d is not an active broker", where, p.Leader)
			}
		}
	}
}

// checkELR checks a partition's eligible leader replicas: none without
// the feature; with it, the ELR and the last known ELR are replicas apart
// from the ISR and from each other (but for the first of the last known
// ELR, the last known leader, which may be in the ELR too), and both empty
// while the ISR holds min.insync.replicas.
func (m *controllerModel) checkELR(t *rapid.T, w *MetadataImage, topic *TopicImage, p PartitionImage, where string) {
	if !elrEnabled(w) {
		if len(p.ELR) > 0 || len(p.LastKnownELR) > 0 {
			t.Fatalf("%s: ELR without the feature", where)
		}
		return
	}
	if !containsAll(p.Replicas, p.ELR) || !containsAll(p.Replicas, p.LastKnownELR) {
		t.Fatalf("%s: ELR or last known ELR outside the replicas", where)
	}
	for _, b := range p.ELR {
		if slices.Contains(p.ISR, b) || slices.Contains(p.LastKnownELR, b) && p.LastKnownELR[0] != b {
			t.Fatalf("%s: broker %d in the ELR and the ISR or last known ELR", where, b)
		}
	}
	for _, b := range p.LastKnownELR {
		if slices.Contains(p.ISR, b) {
			t.Fatalf("%s: broker %d in the last known ELR and the ISR", where, b)
		}
	}
	if minISR := (&Controller{cfg: m.c.cfg}).effectiveMinISR(w, topic, p); len(p.ISR) >= minISR && (len(p.ELR) > 0 || len(p.LastKnownELR) > 0) {
		t.Fatalf("%s: ELR kept with an ISR at min.insync.replicas %d", where, minISR)
	}
}

// TestControllerAnswersNotControllerWhenInactive: an inactive controller
// answers every request it serves at once.
func TestControllerAnswersNotControllerWhenInactive(t *testing.T) {
	c := NewController(ControllerConfig{Entropy: &scriptEntropy{}})
	for _, req := range []kmsg.Request{kmsg.NewPtrCreateTopicsRequest(), kmsg.NewPtrBrokerHeartbeatRequest(),
		kmsg.NewPtrAlterPartitionRequest(), kmsg.NewPtrElectLeadersRequest(), kmsg.NewPtrBrokerRegistrationRequest()} {
		if !c.Handle(Instant{}, req, 1) {
			t.Fatalf("%T not served", req)
		}
		rd := c.Ready()
		if len(rd.Answers) != 1 || len(rd.Proposals) != 0 {
			t.Fatalf("%T: %+v", req, rd)
		}
		if code := topErrorCode(rd.Answers[0].Response); code != kerr.NotController.Code {
			t.Fatalf("%T answered code %d", req, code)
		}
	}
	if c.Handle(Instant{}, kmsg.NewPtrFetchRequest(), 1) {
		t.Fatal("Fetch served")
	}
}

func topErrorCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode
	case *kmsg.ElectLeadersResponse:
		return r.ErrorCode
	case *kmsg.CreateTopicsResponse:
		return kerr.NotController.Code // no topics to carry it
	}
	return -1
}
