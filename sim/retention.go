package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Retention changed mid-run (Profile.RetentionEveryMs): the admin creates
// retentionTopic, which only the plain producers (two of its own among
// them) and the assigned consumers use (sharedTopicNames leaves it out, as deleteTopic), and the
// operator sets its retention with IncrementalAlterConfigs while the
// faults go on (on a compacted topic in half the runs, whose
// cleanup.policy becomes compact,delete meanwhile): retention.bytes of up to
// 3 KiB (0 too: every segment but the active one), or retention.ms of a few seconds (against the nodes' wall clocks,
// which drift and jump), over segments of 1 KiB; or retention off again.
// Every replica, leader or follower, applies it to its own log every
// cleanerCheckIntervalMs (Log.DeleteRetainedSegments), and followers below
// a leader's raised log start fetch from it (OFFSET_OUT_OF_RANGE).
//
// What that promises, checked here:
//
//   - S17: retention never raises a replica's log start past the records
//     the partition committed (its leaders' high watermarks): it deletes
//     only what every replica that may lead holds or will fetch.
//
// Records below a log start that retention reached on any replica are
// gone on purpose: acknowledged writes there that no poll read are no loss
// (Q3, Q4), as below a DeleteRecords' offset (deletedBelow).

// retentionTopic is the topic whose retention the operator sets.
const retentionTopic = "rt"

// retentionSegmentBytes is segment.bytes of retentionTopic, small so that
// segments roll and retention finds some.
const retentionSegmentBytes = 1024

// retained is what retention deleted: per partition, the highest log start
// offset retention raised any replica's log to; and whether the topic is
// compacted too (cleanup.policy=compact,delete while a retention is set).
type retained struct {
	r         *rand.Rand
	below     map[tpKey]int64
	compacted bool
}

// startRetention has the admin create retentionTopic and the operator
// change its retention every Profile.RetentionEveryMs on average.
func (w *World) startRetention(admin *client) {
	if w.profile.RetentionEveryMs <= 0 {
		return
	}
	w.retained = &retained{r: newRand(w.opts.Seed, streamRetention), below: map[tpKey]int64{}}
	w.retained.compacted = w.retained.r.IntN(2) == 0
	admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: retentionTopic, partitions: 2, rf: int16(min(3, len(w.nodes))),
		minISR: w.profile.MinISR, segmentBytes: retentionSegmentBytes, compacted: w.retained.compacted})
	// A producer of its own per partition (acks=all, acks=1), every
	// 20 ms, so that segments roll faster than retention passes.
	for i, acks := range []int16{-1, 1} {
		c := w.newClient(producerClient)
		c.acks, c.meanMs, c.target = acks, 20, &tpKey{retentionTopic, int32(i)}
		c.startProducer()
	}
	var next func()
	next = func() {
		if w.phase != phaseFaulty || admin.stopped {
			return
		}
		admin.alterRetention()
		w.schedule(w.now+1+expMs(w.retained.r, w.profile.RetentionEveryMs), next)
	}
	w.schedule(w.now+1+expMs(w.retained.r, w.profile.RetentionEveryMs), next)
}

// alterRetention sets retentionTopic's retention: by size (two in five), by
// time (two in five) or off.
func (c *client) alterRetention() {
	w, r := c.w, c.w.retained.r
	if _, ok := c.meta.topics[retentionTopic]; !ok {
		return
	}
	bytes, ms := int64(-1), int64(-1)
	switch k := r.IntN(5); {
	case k < 2:
		bytes = r.Int64N(3 * retentionSegmentBytes)
	case k < 4:
		ms = 1000 + r.Int64N(20_000)
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, retentionTopic
	configs := [][2]string{{"retention.bytes", fmt.Sprint(bytes)}, {"retention.ms", fmt.Sprint(ms)}}
	if w.retained.compacted {
		// The log cleaner's compaction and retention both, on the same
		// segments (compaction.go).
		configs = append(configs, [2]string{"cleanup.policy", map[bool]string{true: "compact,delete", false: "compact"}[bytes >= 0 || ms >= 0]})
	}
	for _, kv := range configs {
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Op, cfg.Value = kv[0], kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(kv[1])
		rr.Configs = append(rr.Configs, cfg)
	}
	req.Resources = append(req.Resources, rr)
	what := fmt.Sprintf("%s's retention.bytes to %d and retention.ms to %d", retentionTopic, bytes, ms)
	if w.retained.compacted {
		what += ", cleanup.policy to " + *rr.Configs[len(rr.Configs)-1].Value
	}
	w.stats.RetentionChanges++
	w.timelinef("fault: the operator sets %s", what)
	c.call(c.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.IncrementalAlterConfigsResponse)
		if err != nil || resp == nil || len(resp.Resources) != 1 {
			c.meta.controller = -1
			c.meta.next++
			return
		}
		if code := resp.Resources[0].ErrorCode; code != 0 {
			if code == kerr.NotController.Code {
				c.meta.controller = -1
				c.meta.next++
			}
			w.timelinef("admin: setting %s: %s", what, kerrName(code))
			return
		}
		w.timelinef("admin: set %s", what)
	})
}

// retentionHighWatermark is the high watermark a replica's retention pass
// is bounded by: the replica's, or, under the retention-past-hw plant, its
// log end offset.
func (h *replicaHost) retentionHighWatermark(hw int64) int64 {
	if h.n.w.opts.Plant == PlantRetentionPastHW && h.log != nil && h.log.LogEndOffset() > hw {
		h.n.w.stats.PlantFired++
		return h.log.LogEndOffset()
	}
	return hw
}

// retentionApplied records a replica's log start after a retention pass
// that raised it from before, and checks S17: no replica's retention
// passes the highest high watermark of any replica of the partition (a
// follower's is one its leader had), nor the committed prefix the checks
// know.
func (h *replicaHost) retentionApplied(before, start int64) {
	w := h.n.w
	if start <= before {
		return
	}
	w.stats.RetentionRaises++
	h.checkRetentionPolicy(before, start)
	committed := int64(0)
	if cp := w.checks.committed[h.key]; cp != nil {
		committed = cp.end
	}
	for _, n := range w.nodes {
		if o := n.replicas[h.key]; o != nil && o.core != nil {
			committed = max(committed, o.core.HighWatermark())
		}
	}
	if start > committed {
		w.violation("S17", fmt.Sprintf("%s: retention on %s raised its log start from %d to %d, past the partition's high watermark %d",
			h.key, h.n.name(), before, start, committed))
		return
	}
	if w.retained != nil {
		w.retained.below[h.key] = max(w.retained.below[h.key], start)
	}
}

// retainedBelow says retention deleted offset of tp on some replica.
func (w *World) retainedBelow(tp tpKey, offset int64) bool {
	return w.retained != nil && offset < w.retained.below[tp]
}
