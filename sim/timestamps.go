package sim

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Record timestamps. Producers stamp each value with their clock (virtual
// time), but Profile.TimestampSkewShare of the values carry one far off:
// days to years in the past, which every topic takes
// (message.timestamp.before.max.ms is unbounded), or up to two hours in
// the future, which a CreateTime topic refuses with INVALID_TIMESTAMP
// beyond message.timestamp.after.max.ms (an hour) of its leader's wall
// clock, which clock jumps and drift move. Profile.LogAppendTimeShare of
// the workload topics have message.timestamp.type=LogAppendTime: the
// leader stamps each batch with its wall clock and says so in its answer.
//
// Q13 checks what clients read back: every read of an offset holding the
// same value gives the same timestamp (replicas, retries, recoveries and
// compaction keep the leader's); a value sent to a CreateTime topic reads
// with the timestamp its producer gave it, one acknowledged by a
// LogAppendTime topic with the LogAppendTime of its acknowledgement; and
// a CreateTime leader refuses a value as INVALID_TIMESTAMP only when its
// timestamp is out of bounds of the leader's wall clock (never on a
// LogAppendTime topic, where the leader's clock stamps it).

// timestampAfterMaxMs is message.timestamp.after.max.ms, Kafka's default:
// the simulated topics leave it.
const timestampAfterMaxMs = 3_600_000

// sendTimestamp is the timestamp a producer gives a value now.
func (w *World) sendTimestamp() int64 {
	now := wallStartMs + w.now
	if !chance(w.rngTimestamps, w.profile.TimestampSkewShare) {
		return now
	}
	w.stats.SkewedTimestamps++
	if w.rngTimestamps.IntN(2) == 0 {
		const day = 86_400_000
		return now - day - w.rngTimestamps.Int64N(3*365*day)
	}
	return now + w.rngTimestamps.Int64N(2*timestampAfterMaxMs)
}

// checkTimestampRefusal is Q13's refusal part, for a send's attempt
// answered resp.
func (w *World) checkTimestampRefusal(op *sendOp, resp *produceResponse) {
	if resp.errorCode != kerr.InvalidTimestamp.Code {
		return
	}
	w.stats.TimestampRefusals++
	w.stats.InvariantsChecked++
	switch {
	case w.logAppendTimeTopics[op.tp.topic]:
		w.violation("Q13", fmt.Sprintf("%s refused %q as INVALID_TIMESTAMP, though the topic's timestamps are LogAppendTime", op.tp, op.value))
	case !op.timestamped || op.timestampMs <= resp.wallMs+timestampAfterMaxMs:
		w.violation("Q13", fmt.Sprintf("%s refused %q as INVALID_TIMESTAMP: its timestamp %d is within message.timestamp.after.max.ms of the leader's clock %d",
			op.tp, op.value, op.timestampMs, resp.wallMs))
	}
}

// checkTimestamps is Q13 over the history: the timestamps read back.
func (c *historyChecker) checkTimestamps() bool {
	w := c.w
	type read struct {
		value string
		ts    int64
	}
	seen := map[tpKey]map[int64]read{}
	for _, p := range w.hist.polls {
		m := seen[p.tp]
		if m == nil {
			m = map[int64]read{}
			seen[p.tp] = m
		}
		for _, r := range p.records {
			if r.kind == recControl {
				continue
			}
			w.stats.InvariantsChecked++
			if prev, ok := m[r.offset]; ok && prev.value == r.value && prev.ts != r.timestampMs {
				w.violation("Q13", fmt.Sprintf("%s offset %d (%q) read with timestamp %d and with %d", p.tp, r.offset, r.value, prev.ts, r.timestampMs))
				return false
			}
			m[r.offset] = read{r.value, r.timestampMs}
		}
	}
	for _, s := range w.hist.sends {
		r, ok := seen[s.tp][s.offset]
		if s.outcome != outcomeOK || !ok || r.value != s.value {
			continue
		}
		w.stats.InvariantsChecked++
		lat := w.logAppendTimeTopics[s.tp.topic]
		switch {
		case lat && s.appendTimeKnown && r.ts != s.appendTimeMs:
			w.violation("Q13", fmt.Sprintf("%s offset %d (%q) read with timestamp %d, but its acknowledgement gave LogAppendTime %d", s.tp, s.offset, s.value, r.ts, s.appendTimeMs))
			return false
		case lat && s.appendTimeKnown && s.appendTimeMs < 0:
			w.violation("Q13", fmt.Sprintf("%s acknowledged %q without a LogAppendTime", s.tp, s.value))
			return false
		case !lat && s.timestamped && r.ts != s.timestampMs:
			w.violation("Q13", fmt.Sprintf("%s offset %d (%q) read with timestamp %d, but its producer gave it %d", s.tp, s.offset, s.value, r.ts, s.timestampMs))
			return false
		case !lat && s.appendTimeKnown && s.appendTimeMs != -1:
			w.violation("Q13", fmt.Sprintf("%s acknowledged %q with LogAppendTime %d, though the topic's timestamps are CreateTime", s.tp, s.value, s.appendTimeMs))
			return false
		}
	}
	return true
}
