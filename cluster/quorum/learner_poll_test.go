package quorum

import (
	"slices"
	"testing"
)

// TestLearnerPoll: a learner polls the leader it knows, one poll at a time;
// once the leader's polls brought nothing for longer than the timeout (or
// while no voter leads), it polls the voters in turn, and a new leader's
// messages, when one of those polls reaches it, bring it back to polling
// the leader alone.
func TestLearnerPoll(t *testing.T) {
	p := NewLearnerPoll([]int32{1, 2, 3}, 1000)
	poll := func(leader int32, now int64) int32 {
		t.Helper()
		to, ok := p.Poll(leader, now)
		if !ok {
			t.Fatalf("at %d: no poll", now)
		}
		if _, again := p.Poll(leader, now); again {
			t.Fatalf("at %d: a second poll while one is out", now)
		}
		return to
	}
	// No leader known: the voters in turn.
	var got []int32
	for i := range 4 {
		got = append(got, poll(-1, int64(i)))
		p.Failed(int64(i))
	}
	if want := []int32{1, 2, 3, 1}; !slices.Equal(got, want) {
		t.Fatalf("without a leader, polled %v, want %v", got, want)
	}
	// Leader 2, heard from: it alone, for as long as it answers.
	for now := int64(10); now < 5000; now += 500 {
		if to := poll(2, now); to != 2 {
			t.Fatalf("at %d: polled %d, not the leader 2", now, to)
		}
		if again := p.Answered(2, true, now); !again {
			t.Fatalf("an answer with messages does not ask for another poll")
		}
	}
	// Leader 2 goes silent at 4510: polled alone until the timeout passed.
	if to := poll(2, 5400); to != 2 {
		t.Fatalf("within the timeout, polled %d, not the leader", to)
	}
	if p.Answered(2, false, 5400) {
		t.Fatalf("an empty answer asks for another poll at once")
	}
	got = got[:0]
	for now := int64(5600); now < 6400; now += 200 {
		got = append(got, poll(2, now))
		p.Answered(got[len(got)-1], false, now)
	}
	if slices.Equal(got, []int32{2, 2, 2, 2}) || !slices.Contains(got, 3) {
		t.Fatalf("a leader silent past the timeout still polled alone: %v", got)
	}
	// Voter 3 leads now; its messages, once a poll reaches it, make it the
	// one polled.
	to := poll(3, 6400)
	p.Answered(to, true, 6400)
	for now := int64(6500); now < 8000; now += 300 {
		if to := poll(3, now); to != 3 {
			t.Fatalf("at %d: polled %d, not the new leader 3", now, to)
		}
		p.Answered(3, true, now)
	}
	// A leader that is not a voter (a stale or odd id) is never polled.
	if to := poll(7, 9000); to == 7 {
		t.Fatalf("polled node 7, not a voter")
	}
}

// TestLearnerPollAfterItsOwnPause: a learner that polled nothing for longer
// than the timeout (its process was paused) polls its leader first, rather
// than the voters in turn, one of which may not answer for a poll's
// timeout (the zombie-leader-read-after-unclean-election scenario: a
// learner resumed and waited 2 s on a paused voter before it polled the
// leader); the leader stays the one polled if it brings messages, and the
// voters' turn comes if it does not.
func TestLearnerPollAfterItsOwnPause(t *testing.T) {
	p := NewLearnerPoll([]int32{1, 2, 3}, 1000)
	if to, _ := p.Poll(1, 0); to != 1 {
		t.Fatalf("polled %d, not the leader 1", to)
	}
	p.Answered(1, true, 5)
	// Paused from 5 to 9000.
	if to, _ := p.Poll(1, 9000); to != 1 {
		t.Fatalf("after its own pause the learner polled %d, not the leader 1", to)
	}
	p.Answered(1, true, 9002)
	if to, _ := p.Poll(1, 9100); to != 1 {
		t.Fatalf("a leader that answered with messages lost the poll to %d", to)
	}
	p.Answered(1, false, 9101)
	// Paused again, and the leader is silent when it resumes: one poll,
	// then the voters in turn.
	if to, _ := p.Poll(1, 20_000); to != 1 {
		t.Fatalf("after its own pause the learner polled %d, not the leader 1", to)
	}
	p.Failed(20_001)
	var got []int32
	for now := int64(20_100); now < 20_400; now += 100 {
		to, _ := p.Poll(1, now)
		got = append(got, to)
		p.Failed(now + 1)
	}
	if want := []int32{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("a leader silent since before the pause: then polled %v, not the voters in turn %v", got, want)
	}
}

// TestOutbox: messages held for a node come out oldest first, once; past
// MaxOutboxMessages the oldest goes, and is handed back to the caller.
func TestOutbox(t *testing.T) {
	o := NewOutbox()
	if _, dropped := o.Hold(4, HeldMessage{Data: []byte{0}, Snapshot: true}); dropped {
		t.Fatalf("dropped from an empty box")
	}
	for i := 1; i < MaxOutboxMessages; i++ {
		if _, dropped := o.Hold(4, HeldMessage{Data: []byte{byte(i)}}); dropped {
			t.Fatalf("dropped at %d messages", i+1)
		}
	}
	d, dropped := o.Hold(4, HeldMessage{Data: []byte{9}})
	if !dropped || !d.Snapshot || d.Data[0] != 0 {
		t.Fatalf("a full box dropped %v (%v), not its oldest", d, dropped)
	}
	o.Hold(5, HeldMessage{Data: []byte{5}})
	box := o.Take(4)
	if len(box) != MaxOutboxMessages || box[0].Data[0] != 1 || box[len(box)-1].Data[0] != 9 {
		t.Fatalf("took %d messages, from %v to %v", len(box), box[0].Data, box[len(box)-1].Data)
	}
	if len(o.Take(4)) != 0 || len(o.Take(5)) != 1 {
		t.Fatalf("a box handed out twice, or another node's taken")
	}
}
