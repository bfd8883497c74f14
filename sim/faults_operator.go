package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
	"gregor/txn"
)

// The operator's faults. The reassignment fault: the operator moves a partition's replicas while
// the other faults go on (CORRECTNESS.md B15's membership changes, for
// partitions). The admin client sends the controller an
// AlterPartitionAssignments for one partition, of a workload topic or of
// __consumer_offsets or __transaction_state, with a target of other
// brokers, in another order, one replica more or one fewer (never fewer
// than two while there are two brokers); or it cancels the reassignment
// under way; or, one time in five, it asks for preferred leader
// elections of every partition (ElectLeaders PREFERRED), which moves
// leaders to the first replica of the target a reassignment set.
//
// The min.insync.replicas fault: the operator sets a workload topic's
// min.insync.replicas (IncrementalAlterConfigs) to a value from the
// profile's up to three; the controller clears or fills the eligible
// leader replicas of its partitions (KIP-966), and leaders take the new
// setting for their high watermarks. The checkers hold each acknowledged
// write to the lowest setting the topic had.
//
// The unclean toggle: the operator turns a workload topic's
// unclean.leader.election.enable on or off (IncrementalAlterConfigs); the
// controller's periodic unclean elections (and those of a partition's
// next change) take the setting of its image at the time: S5 holds an
// election to the setting of the image that commits it, and an unclean
// election excuses what its partition loses, whatever is set later.
//
// The unregistration fault: the operator unregisters a broker whose
// process is down (UnregisterBroker, Kafka's kafka-cluster.sh unregister,
// as after a machine failure), voters of the controller quorum too (their
// broker registration only). The controller moves it out of every ISR;
// when its process starts again it registers anew, with no registration
// to compare its shutdown marker with (CORRECTNESS.md B15).

// reassign is one reassignment fault.
func (f *faultInjector) reassign(r *rand.Rand) {
	w := f.w
	admin := w.adminClient()
	if admin == nil || admin.stopped {
		return
	}
	if r.IntN(5) == 0 {
		admin.electPreferred()
		return
	}
	names := admin.topicNames()
	for _, internal := range []string{groups.OffsetsTopic, txn.StateTopic} {
		if _, ok := admin.meta.topics[internal]; ok {
			names = append(names, internal)
		}
	}
	names = slices.DeleteFunc(names, func(s string) bool { return s == stretchTopic })
	if len(names) == 0 {
		return
	}
	name := names[r.IntN(len(names))]
	t := admin.meta.topics[name]
	if len(t.partitions) == 0 {
		return
	}
	p := t.partitions[r.IntN(len(t.partitions))]
	var target []int32
	if len(p.AddingReplicas)+len(p.RemovingReplicas) == 0 || r.IntN(4) != 0 {
		rf := len(p.Replicas) - len(p.AddingReplicas)
		size := min(max(rf-1+r.IntN(3), min(2, len(w.nodes)), 1), len(w.nodes))
		for _, i := range r.Perm(len(w.nodes))[:size] {
			target = append(target, w.nodes[i].id)
		}
	}
	admin.alterAssignment(name, p.Partition, target)
}

// adminClient is the workload's admin, nil when it has none.
func (w *World) adminClient() *client {
	for _, c := range w.clients {
		if c.kind == adminClient {
			return c
		}
	}
	return nil
}

// alterAssignment asks the controller to move a partition to the target
// replicas (nil: to cancel the reassignment under way).
func (c *client) alterAssignment(topic string, partition int32, target []int32) {
	w := c.w
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version = 1
	req.TimeoutMillis = 5000
	req.AllowReplicationFactorChange = true
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = partition, target
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	what := fmt.Sprintf("%s/%d to %v", topic, partition, target)
	if target == nil {
		what = fmt.Sprintf("%s/%d: cancel its reassignment", topic, partition)
	}
	w.stats.Reassignments++
	w.timelinef("fault: the operator reassigns %s", what)
	c.call(c.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.AlterPartitionAssignmentsResponse)
		switch {
		case err != nil:
			w.timelinef("admin: reassigning %s: %v", what, err)
		case resp == nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1:
			if resp != nil && resp.ErrorCode == kerr.NotController.Code {
				c.meta.controller = -1
				c.meta.next++
			}
			w.timelinef("admin: reassigning %s: error %s", what, errName(resp))
		default:
			code := resp.Topics[0].Partitions[0].ErrorCode
			switch code {
			case 0:
				w.stats.ReassignmentsStarted++
			case kerr.NotController.Code:
				c.meta.controller = -1
				c.meta.next++
			}
			w.timelinef("admin: reassigning %s: %s", what, kerrName(code))
		}
	})
}

// electPreferred asks the controller for preferred leader elections of
// every partition the admin knows.
func (c *client) electPreferred() {
	w := c.w
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version = 2
	req.ElectionType = 0
	req.TimeoutMillis = 5000
	w.stats.PreferredElections++
	w.timelinef("fault: the operator asks for preferred leader elections")
	c.call(c.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		if resp, _ := body.(*kmsg.ElectLeadersResponse); err == nil && resp != nil && resp.ErrorCode == kerr.NotController.Code {
			c.meta.controller = -1
			c.meta.next++
		}
	})
}

func kerrName(code int16) string {
	if code == 0 {
		return "started"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return fmt.Sprint(code)
}

func errName(resp *kmsg.AlterPartitionAssignmentsResponse) string {
	if resp == nil {
		return "no answer"
	}
	return kerrName(resp.ErrorCode)
}

// operatorTopic draws the topic an operator's config change goes to, any
// the admin knows but stretchTopic; none while the admin is stopped or
// knows no topic.
func (f *faultInjector) operatorTopic(r *rand.Rand) (*client, string, bool) {
	admin := f.w.adminClient()
	if admin == nil || admin.stopped {
		return nil, "", false
	}
	names := slices.DeleteFunc(admin.topicNames(), func(s string) bool { return s == stretchTopic })
	if len(names) == 0 {
		return nil, "", false
	}
	return admin, names[r.IntN(len(names))], true
}

// alterMinISR is one min.insync.replicas fault.
func (f *faultInjector) alterMinISR(r *rand.Rand) {
	w := f.w
	admin, name, ok := f.operatorTopic(r)
	if !ok {
		return
	}
	lo := max(w.profile.MinISR, 1)
	v := lo + r.IntN(max(3-lo, 0)+1)
	if f.minISRSet == nil {
		f.minISRSet = map[string]bool{}
	}
	f.minISRSet[name] = true
	w.stats.MinISRChanges++
	w.timelinef("fault: the operator sets %s's min.insync.replicas to %d", name, v)
	// Marked again when the controller takes it: a fault's request still
	// in flight at the heal may be taken after restoreMinISR's, which
	// then sets the topic back once more.
	admin.setMinISR([]string{name}, v, func(name string) { f.minISRSet[name] = true })
}

// toggleUnclean is one unclean toggle.
func (f *faultInjector) toggleUnclean(r *rand.Rand) {
	w := f.w
	admin, name, ok := f.operatorTopic(r)
	if !ok {
		return
	}
	on := r.IntN(2) == 0
	w.stats.UncleanToggles++
	w.timelinef("fault: the operator sets %s's unclean.leader.election.enable to %v", name, on)
	admin.alterConfig(kmsg.ConfigResourceTypeTopic, name, "unclean.leader.election.enable", kmsg.StringPtr(fmt.Sprint(on)), nil)
}

// restoreMinISR sets the min.insync.replicas of every topic the operator
// changed back to the profile's, again each second until the controller
// took each: at the heal, the operator repairs what it configured (a
// topic left with fewer replicas than its min.insync.replicas, after a
// reassignment, takes no acks=all write, nor a transaction marker, so its
// open transactions would hang for good, as on Kafka).
func (f *faultInjector) restoreMinISR() {
	w := f.w
	admin := w.adminClient()
	if len(f.minISRSet) == 0 || admin == nil {
		return // (a stopped admin, its workload over, still calls)
	}
	names := make([]string, 0, len(f.minISRSet))
	for name := range f.minISRSet {
		names = append(names, name)
	}
	slices.Sort(names)
	admin.setMinISR(names, max(w.profile.MinISR, 1), func(name string) { delete(f.minISRSet, name) })
	w.schedule(w.now+1000, f.restoreMinISR)
}

// setMinISR asks the controller, in one request, to set the topics'
// min.insync.replicas; done runs for each topic it set. A controller that
// does not answer, or answers NOT_CONTROLLER, is not asked next time.
func (admin *client) setMinISR(names []string, v int, done func(name string)) {
	w := admin.w
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, name := range names {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Op, cfg.Value = "min.insync.replicas", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(fmt.Sprint(v))
		rr.Configs = append(rr.Configs, cfg)
		req.Resources = append(req.Resources, rr)
	}
	what := fmt.Sprintf("%v's min.insync.replicas to %d", names, v)
	admin.call(admin.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.IncrementalAlterConfigsResponse)
		if err != nil || resp == nil {
			admin.meta.controller = -1
			admin.meta.next++
			w.timelinef("admin: setting %s: %v", what, err)
			return
		}
		notController := false
		for _, rr := range resp.Resources {
			switch rr.ErrorCode {
			case 0:
				if done != nil {
					done(rr.ResourceName)
				}
			case kerr.NotController.Code:
				notController = true
			}
		}
		if notController {
			admin.meta.controller = -1
			admin.meta.next++
		}
		codes := make([]string, 0, len(resp.Resources))
		for _, rr := range resp.Resources {
			codes = append(codes, map[bool]string{true: "done"}[rr.ErrorCode == 0]+errText(rr.ErrorCode))
		}
		w.timelinef("admin: setting %s: %s", what, strings.Join(codes, ", "))
	})
}

func errText(code int16) string {
	if code == 0 {
		return ""
	}
	return kerrName(code)
}

// unregister is one unregistration fault.
func (f *faultInjector) unregister(r *rand.Rand) {
	w := f.w
	admin := w.adminClient()
	if admin == nil || admin.stopped {
		return
	}
	var down []*node
	for _, n := range w.nodes {
		if n.started && !n.up {
			down = append(down, n)
		}
	}
	if len(down) == 0 {
		return
	}
	n := down[r.IntN(len(down))]
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = n.id
	w.stats.Unregistrations++
	w.timelinef("fault: the operator unregisters broker %d (its process is down)", n.id)
	admin.call(admin.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.UnregisterBrokerResponse)
		switch {
		case err != nil:
			w.timelinef("admin: unregistering broker %d: %v", n.id, err)
		case resp == nil:
			w.timelinef("admin: unregistering broker %d: no answer", n.id)
		default:
			if resp.ErrorCode == 0 {
				w.stats.UnregistrationsTaken++
			} else if resp.ErrorCode == kerr.NotController.Code {
				admin.meta.controller = -1
				admin.meta.next++
			}
			what := "ok"
			if resp.ErrorCode != 0 {
				what = kerrName(resp.ErrorCode)
			}
			w.timelinef("admin: unregistering broker %d: %s", n.id, what)
		}
	})
}
