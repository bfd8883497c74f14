package sim

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/groups"
	"gregor/logstore"
	"gregor/txn"
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

// sendTimestamp is the timestamp a producer gives a value now and, for a
// sloppy producer, the max timestamp it writes in the batch's header
// instead of the record's (0: the record's). A broker judges and keeps
// the records' own timestamps, as Kafka's LogValidator does: a header
// far ahead of them is no reason to refuse the batch, and one behind them
// must not hide them from a lookup by timestamp.
func (w *World) sendTimestamp() (ts, headerMax int64) {
	now := wallStartMs + w.now
	if !chance(w.rngTimestamps, w.profile.TimestampSkewShare) {
		return now, 0
	}
	w.stats.SkewedTimestamps++
	const day = 86_400_000
	switch w.rngTimestamps.IntN(4) {
	case 0, 1:
		return now - day - w.rngTimestamps.Int64N(3*365*day), 0
	case 2:
		return now + w.rngTimestamps.Int64N(2*timestampAfterMaxMs), 0
	default:
		return now, now + []int64{-day, 2 * timestampAfterMaxMs, -1 - now}[w.rngTimestamps.IntN(3)]
	}
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
			// An offset whose history the guarantees let change (an
			// unclean election, a power loss) may hold the same value
			// appended again, with another LogAppendTime (seed 1450).
			if prev, ok := m[r.offset]; ok && prev.value == r.value && prev.ts != r.timestampMs && c.excused(p.tp, r.offset) == "" {
				w.violation("Q13", fmt.Sprintf("%s offset %d (%q) read with timestamp %d and with %d", p.tp, r.offset, r.value, prev.ts, r.timestampMs))
				return false
			}
			m[r.offset] = read{r.value, r.timestampMs}
		}
	}
	for _, s := range w.hist.sends {
		r, ok := seen[s.tp][s.offset]
		if s.outcome != outcomeOK || !ok || r.value != s.value || c.excused(s.tp, s.offset) != "" {
			continue
		}
		if s.acks != -1 && w.checks.truncatedAt(s.tp, s.offset) {
			// acks=1 promises nothing: the acknowledged append may have
			// been truncated away and the value read there be another
			// append of it (seed 5001011 at 5 nodes).
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

// lookUpTimestamp answers a ListOffsets lookup as production's partition
// does: the first record at or after timestampMs (Log.OffsetForTimestamp),
// or the one with the largest timestamp (Log.OffsetOfMaxTimestamp, -3).
func lookUpTimestamp(log *logstore.Log, timestampMs int64, maxTimestamp bool) (logstore.TimestampOffset, bool, error) {
	if maxTimestamp {
		return log.OffsetOfMaxTimestamp()
	}
	return log.OffsetForTimestamp(timestampMs)
}

// checkTimestampLookups is Q13's ListOffsets part, once the final read
// read every partition to its high watermark: each leader's log answers a
// lookup by timestamp (through its indexes) with the first record below
// the high watermark, in a plain read of the log from its start, at or
// after that timestamp (control records and those of aborted transactions
// too, as Kafka's time index has them), and -3 with the first record of
// the largest timestamp. The targets are the timestamps of the log's
// records and one past each, a few dozen per partition.
func (w *World) checkTimestampLookups() {
	for _, n := range w.nodes {
		for _, k := range n.keys {
			h := n.replicas[k]
			if h.core == nil || !h.core.IsLeader() || h.log == nil || k.topic == groups.OffsetsTopic || k.topic == txn.StateTopic {
				continue
			}
			hw := h.core.HighWatermark()
			recs, err := logTimestamps(h.log, hw)
			if err != nil {
				w.violation("Q13", fmt.Sprintf("%s: %s's log does not read back: %v", k, n.name(), err))
				return
			}
			step := max(1, len(recs)/16)
			var targets []int64
			for i := 0; i < len(recs); i += step {
				targets = append(targets, recs[i].TimestampMs, recs[i].TimestampMs+1)
			}
			for _, target := range append(targets, -3) {
				want := logstore.TimestampOffset{Offset: -1, TimestampMs: -1}
				for _, r := range recs {
					if target == -3 && r.TimestampMs > want.TimestampMs || target >= 0 && r.TimestampMs >= target {
						want = r
						if target >= 0 {
							break
						}
					}
				}
				to, found, err := lookUpTimestamp(h.log, target, target == -3)
				w.stats.InvariantsChecked++
				if err != nil {
					w.violation("Q13", fmt.Sprintf("%s: %s looked up timestamp %d: %v", k, n.name(), target, err))
					return
				}
				got := logstore.TimestampOffset{Offset: -1, TimestampMs: -1}
				if found && to.Offset < hw {
					got = to
				}
				if got != want {
					w.violation("Q13", fmt.Sprintf("%s: %s's log answers ListOffsets for timestamp %d with offset %d (timestamp %d); a read of the log finds offset %d (timestamp %d)",
						k, n.name(), target, got.Offset, got.TimestampMs, want.Offset, want.TimestampMs))
					return
				}
			}
		}
	}
}

// logTimestamps reads log from its start to hw and returns every record's
// offset and timestamp, in offset order.
func logTimestamps(log *logstore.Log, hw int64) ([]logstore.TimestampOffset, error) {
	var out []logstore.TimestampOffset
	for offset := log.LogStartOffset(); offset < hw; {
		rs, err := log.Read(offset, 1<<20, hw)
		if err != nil {
			return nil, err
		}
		p, err := rs.Bytes()
		rs.Release()
		if err != nil {
			return nil, err
		}
		recs, next, err := decodeRecords(p, nil, false)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.offset >= offset && r.offset < hw {
				out = append(out, logstore.TimestampOffset{Offset: r.offset, TimestampMs: r.timestampMs})
			}
		}
		if next <= offset {
			break
		}
		offset = next
	}
	return out, nil
}
