package quorum

import (
	"encoding/binary"
	"testing"
)

// A voter's answer to a marked heartbeat carries its tags after the mark:
// the leader reads the mark whatever tags follow (one it does not know is
// skipped, so a later gregor may add tags), and what the ones it knows
// say.
func TestHeartbeatAnswerTags(t *testing.T) {
	mark := make([]byte, heartbeatMarkLen)
	mark[0] = heartbeatMarkTag
	binary.BigEndian.PutUint64(mark[1:], 7)
	binary.BigEndian.PutUint64(mark[9:], 1234)
	binary.BigEndian.PutUint64(mark[17:], 2)
	for _, tc := range []struct {
		tags string
		want heartbeatAnswerTags
	}{
		{"", heartbeatAnswerTags{}},
		{"f", heartbeatAnswerTags{fresh: true}},
		{"c", heartbeatAnswerTags{stop: stopAwaitsController}},
		{"s", heartbeatAnswerTags{stop: stopLeaving}},
		{"fs", heartbeatAnswerTags{fresh: true, stop: stopLeaving}},
		{"xfz", heartbeatAnswerTags{fresh: true}},
	} {
		term, sentMs, over, tags, ok := parseHeartbeatMark(append(append([]byte(nil), mark...), tc.tags...))
		if !ok || term != 7 || sentMs != 1234 || over != 2 || tags != tc.want {
			t.Errorf("tags %q: term %d sent %d over %d tags %+v ok %v, want 7 1234 2 %+v true", tc.tags, term, sentMs, over, tags, ok, tc.want)
		}
	}
	if _, _, _, _, ok := parseHeartbeatMark(mark[:heartbeatMarkLen-1]); ok {
		t.Error("a short mark parsed")
	}
}

// What a leader keeps of a voter's stop only moves on, but for an answer
// that says the voter runs again: one to a heartbeat sent since the leader
// heard of the stop, or one saying it started lately (a new process). An
// answer to an older heartbeat, overtaken by the voter's notice, changes
// nothing.
func TestNoteStopStageOrder(t *testing.T) {
	q := &Quorum{stoppingVoters: map[int32]voterStop{}}
	q.cfg, _ = Config{NodeID: 1, Voters: []int32{1, 2, 3}}.withDefaults()
	q.now.MonoMs = 100
	q.noteStopStage(2, heartbeatAnswerTags{stop: stopAwaitsController}, 1<<63-1)
	q.now.MonoMs = 150
	q.noteStopStage(2, heartbeatAnswerTags{}, 90) // sent before the notice
	if got := q.stoppingVoters[2].stage; got != stopAwaitsController {
		t.Fatalf("an answer to an older heartbeat undid the stop: %v", got)
	}
	q.noteStopStage(2, heartbeatAnswerTags{stop: stopLeaving}, 140)
	q.noteStopStage(2, heartbeatAnswerTags{stop: stopAwaitsController}, 120)
	if got := q.stoppingVoters[2].stage; got != stopLeaving {
		t.Fatalf("a stop went back: %v", got)
	}
	q.noteStopStage(2, heartbeatAnswerTags{}, 149)
	if got := q.stoppingVoters[2].stage; got != stopLeaving {
		t.Fatalf("an answer to a heartbeat sent before the stage was learned undid it: %v", got)
	}
	q.noteStopStage(2, heartbeatAnswerTags{}, 150)
	if _, ok := q.stoppingVoters[2]; ok {
		t.Fatal("an answer to a heartbeat sent since, naming no stop, left the stop")
	}
	q.noteStopStage(3, heartbeatAnswerTags{stop: stopLeaving}, 150)
	q.noteStopStage(3, heartbeatAnswerTags{fresh: true}, 10)
	if _, ok := q.stoppingVoters[3]; ok {
		t.Fatal("a voter started lately still counts as stopping")
	}
}
