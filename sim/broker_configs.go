package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// Broker-wide config changes (Profile.BrokerConfigEveryMs): the operator
// sets a cluster-wide default with IncrementalAlterConfigs on the broker
// resource "" (kafka-configs.sh --entity-type brokers --entity-default)
// while the faults go on, or deletes one it set:
//
//   - min.insync.replicas (from the profile's up to three) and
//     unclean.leader.election.enable: every topic without its own value
//     takes it. The workload topics are created with their own values, so
//     the operator also deletes a workload topic's own
//     min.insync.replicas or unclean.leader.election.enable now and then,
//     and from then on the topic takes the broker's. The controller
//     builds again, with the new default, each partition of the topics it
//     governs (minISRChangeUpdates) and leaders take it for their high
//     watermarks; the checks hold each acknowledged write to the lowest
//     value its topic had, its own or the broker's (lowestMinISR), and an
//     election to the setting of the image that commits it (S5).
//   - log.retention.ms (1-21 s) and log.retention.bytes (0-3 KiB): the
//     workload topics that are not compacted are created with retention
//     off of their own (retention.ms and retention.bytes -1) while this
//     fault runs, so the broker's retention reaches the compacted ones:
//     __consumer_offsets, __transaction_state, the compacted workload
//     topics, and retentionTopic before the operator first sets its own.
//
// What that promises, checked here:
//
//   - S18: retention never deletes a segment of a topic whose
//     cleanup.policy has no delete (compact only): a group's committed
//     offsets and a transactional id's state survive any broker-wide
//     retention, as Kafka's (LogManager cleans compacted logs only by
//     compaction). A bug that took a broker-wide retention for a delete
//     policy (the plant broker-retention-compacted) loses them.
//
// At the heal the operator deletes the broker-wide min.insync.replicas it
// set, again each second until the controller took it (as restoreMinISR).

// brokerConfigs is what the broker-wide config fault changed.
type brokerConfigs struct {
	// minISRSet says the operator set the broker-wide
	// min.insync.replicas (deleted again at the heal).
	minISRSet bool
}

// alterBrokerConfig is one broker-wide config change: a default set (or
// deleted), or a workload topic's own value deleted.
func (f *faultInjector) alterBrokerConfig(r *rand.Rand) {
	w := f.w
	if r.IntN(4) == 0 {
		admin, name, ok := f.operatorTopic(r)
		if !ok {
			return
		}
		key := []string{"min.insync.replicas", "unclean.leader.election.enable"}[r.IntN(2)]
		if key == "min.insync.replicas" {
			// Set back to the profile's at the heal (restoreMinISR).
			if f.minISRSet == nil {
				f.minISRSet = map[string]bool{}
			}
			f.minISRSet[name] = true
		}
		w.stats.TopicOverridesDeleted++
		w.timelinef("fault: the operator deletes %s's own %s (the broker's default applies)", name, key)
		admin.alterConfig(kmsg.ConfigResourceTypeTopic, name, key, nil, nil)
		return
	}
	admin := w.adminClient()
	if admin == nil || admin.stopped {
		return
	}
	lo := max(w.profile.MinISR, 1)
	var key, value string
	switch r.IntN(4) {
	case 0:
		key, value = "min.insync.replicas", fmt.Sprint(lo+r.IntN(max(3-lo, 0)+1))
		f.brokerConfigs.minISRSet = true
	case 1:
		key, value = "unclean.leader.election.enable", fmt.Sprint(r.IntN(2) == 0)
	case 2:
		key, value = "log.retention.ms", fmt.Sprint(1000+r.Int64N(20_000))
	default:
		key, value = "log.retention.bytes", fmt.Sprint(r.Int64N(3*retentionSegmentBytes))
	}
	var v *string
	if r.IntN(4) != 0 {
		v = &value
	}
	w.stats.BrokerConfigChanges++
	if v == nil {
		w.timelinef("fault: the operator deletes the broker-wide %s", key)
	} else {
		w.timelinef("fault: the operator sets the broker-wide %s to %s", key, value)
	}
	admin.alterConfig(kmsg.ConfigResourceTypeBroker, "", key, v, nil)
}

// restoreBrokerMinISR deletes the broker-wide min.insync.replicas the
// operator set, again each second until the controller took it: at the
// heal, as restoreMinISR (a topic that takes it, left with fewer replicas,
// would take no acks=all write, nor a transaction marker, for good).
func (f *faultInjector) restoreBrokerMinISR() {
	w := f.w
	admin := w.adminClient()
	if !f.brokerConfigs.minISRSet || admin == nil {
		return
	}
	admin.alterConfig(kmsg.ConfigResourceTypeBroker, "", "min.insync.replicas", nil, func() { f.brokerConfigs.minISRSet = false })
	w.schedule(w.now+1000, f.restoreBrokerMinISR)
}

// alterConfig asks the controller to set one config of a resource (nil:
// to delete it); done runs once the controller took it. A controller that
// does not answer, or answers NOT_CONTROLLER, is not asked next time.
func (admin *client) alterConfig(typ kmsg.ConfigResourceType, name, key string, value *string, done func()) {
	w := admin.w
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Op, cfg.Value = key, kmsg.IncrementalAlterConfigOpSet, value
	if value == nil {
		cfg.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	rr.Configs = append(rr.Configs, cfg)
	req.Resources = append(req.Resources, rr)
	target := fmt.Sprintf("%s's %s", name, key)
	if typ == kmsg.ConfigResourceTypeBroker {
		target = "the broker-wide " + key
	}
	what := "deleting " + target
	if value != nil {
		what = fmt.Sprintf("setting %s to %s", target, *value)
	}
	admin.call(admin.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.IncrementalAlterConfigsResponse)
		if err != nil || resp == nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode == kerr.NotController.Code {
			admin.meta.controller = -1
			admin.meta.next++
			return
		}
		code := resp.Resources[0].ErrorCode
		if code == 0 && done != nil {
			done()
		}
		w.timelinef("admin: %s: %s", what, map[bool]string{true: "done"}[code == 0]+errText(code))
	})
}

// ownRetentionOff are the configs that turn a workload topic's retention
// off of its own, so that the broker-wide retention the operator sets
// reaches only the compacted topics (and retentionTopic, whose retention
// the operator sets).
func (w *World) ownRetentionOff(spec topicSpec) [][2]string {
	if w.profile.BrokerConfigEveryMs <= 0 || spec.compacted || spec.name == retentionTopic {
		return nil
	}
	return [][2]string{{"retention.ms", "-1"}, {"retention.bytes", "-1"}}
}

// brokerRetentionTopicSettings is the plant broker-retention-compacted:
// with a broker-wide retention set, a topic's settings take a delete
// policy whatever its cleanup.policy says.
func (w *World) brokerRetentionTopicSettings(img *cluster.MetadataImage, s cluster.TopicSettings) cluster.TopicSettings {
	if w.opts.Plant != PlantBrokerRetentionCompacted || s.Log.CleanupPolicyDelete {
		return s
	}
	for _, k := range []string{"log.retention.ms", "log.retention.bytes"} {
		if _, ok := img.BrokerConfigs()[k]; ok {
			s.Log.CleanupPolicyDelete = true
			break
		}
	}
	return s
}

// checkRetentionPolicy is S18: a replica's retention pass raised its log
// start, which only a topic whose cleanup.policy has delete allows. The
// policy is read from the node's image as the topic's own value, or the
// brokers' (retentionTopic aside: its policy changes with the operator's
// retention, and a replica may run a pass before it takes the change).
func (h *replicaHost) checkRetentionPolicy(before, start int64) {
	n := h.n
	if h.key.topic == retentionTopic {
		return
	}
	t, ok := n.image.Topic(h.key.topic)
	if !ok {
		return
	}
	policy, _ := cluster.TopicConfigValue(t, cluster.BrokerConfigs{Dynamic: n.image.BrokerConfigs(), Static: n.w.staticConfigs}, "cleanup.policy")
	if !strings.Contains(policy, "delete") {
		n.w.violation("S18", fmt.Sprintf("%s: retention on %s raised its log start from %d to %d, but its cleanup.policy is %q",
			h.key, n.name(), before, start, policy))
	}
}
