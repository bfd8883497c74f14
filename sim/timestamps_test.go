package sim

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/cluster"
)

// TestTimestampCheckerCatchesBadHistories feeds Q13 hand-built histories
// whose timestamps are wrong, and good ones.
func TestTimestampCheckerCatchesBadHistories(t *testing.T) {
	tp := tpKey{"t", 0}
	topic := topicMetadata{name: "t", minISR: 2, partitions: []cluster.PartitionImage{{Partition: 0, Replicas: []int32{1, 2, 3}}}}
	poll := func(position int64, ts int64, values ...string) *pollOp {
		p := &pollOp{tp: tp, position: position, process: clientBase + 1}
		for i, v := range values {
			p.records = append(p.records, readRecord{offset: position + int64(i), value: v, timestampMs: ts})
		}
		return p
	}
	created := func(value string, offset, ts int64) *sendOp {
		return &sendOp{tp: tp, value: value, offset: offset, acks: -1, outcome: outcomeOK, process: clientBase + 2,
			timestampMs: ts, timestamped: true, appendTimeMs: -1, appendTimeKnown: true}
	}
	appended := func(value string, offset, ts int64) *sendOp {
		return &sendOp{tp: tp, value: value, offset: offset, acks: -1, outcome: outcomeOK, process: clientBase + 2,
			timestampMs: 5, timestamped: true, appendTimeMs: ts, appendTimeKnown: true}
	}
	for _, tc := range []struct {
		name          string
		logAppendTime bool
		sends         []*sendOp
		polls         []*pollOp
		want          string
	}{
		{"CreateTime read back", false, []*sendOp{created("a", 0, 7)}, []*pollOp{poll(0, 7, "a")}, ""},
		{"CreateTime changed", false, []*sendOp{created("a", 0, 7)}, []*pollOp{poll(0, 8, "a")}, "Q13"},
		{"an offset read with two timestamps", false, nil, []*pollOp{poll(0, 7, "a"), poll(0, 9, "a")}, "Q13"},
		{"LogAppendTime read back", true, []*sendOp{appended("a", 0, 100)}, []*pollOp{poll(0, 100, "a")}, ""},
		{"LogAppendTime not the acknowledged one", true, []*sendOp{appended("a", 0, 100)}, []*pollOp{poll(0, 5, "a")}, "Q13"},
		{"LogAppendTime on a CreateTime topic", false, []*sendOp{appended("a", 0, 100)}, []*pollOp{poll(0, 5, "a")}, "Q13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			c := w.newClient(consumerClient)
			c.meta.topics["t"] = topic
			w.logAppendTimeTopics["t"] = tc.logAppendTime
			w.hist.sends, w.hist.polls = tc.sends, tc.polls
			w.checkHistory(true)
			got := ""
			if len(w.violations) > 0 {
				got = w.violations[0].Check
			}
			if got != tc.want {
				t.Errorf("checkers found %q (%v), want %q", got, w.violations, tc.want)
			}
		})
	}
	// A refusal is checked against the answering leader's clock.
	for _, tc := range []struct {
		name          string
		logAppendTime bool
		ts, wall      int64
		want          string
	}{
		{"beyond after.max.ms", false, 1_000 + timestampAfterMaxMs + 1, 1_000, ""},
		{"within after.max.ms", false, 1_000 + timestampAfterMaxMs, 1_000, "Q13"},
		{"on a LogAppendTime topic", true, 1_000 + 2*timestampAfterMaxMs, 1_000, "Q13"},
	} {
		t.Run("refused "+tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			w.logAppendTimeTopics["t"] = tc.logAppendTime
			op := &sendOp{tp: tp, value: "a", timestampMs: tc.ts, timestamped: true}
			w.checkTimestampRefusal(op, &produceResponse{errorCode: kerr.InvalidTimestamp.Code, wallMs: tc.wall})
			got := ""
			if len(w.violations) > 0 {
				got = w.violations[0].Check
			}
			if got != tc.want {
				t.Errorf("found %q (%v), want %q", got, w.violations, tc.want)
			}
		})
	}
}
