package actors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// refused is an add's refusal in these tests.
var refused = kerr.ProducerFenced.Code

// producedAdds hands a transactional id's produces on in the order they
// came: an add answered early waits for the one before it, a produce that
// asks nothing waits for the adds ahead of it, and a produce that comes
// while another is being handed on (here, from inside its run) goes after
// it, never straight to the partitions.
func TestProducedAddsKeepArrivalOrder(t *testing.T) {
	var p producedAdds
	t0 := logstore.TopicPartition{Topic: "t", Partition: 0}
	t1 := logstore.TopicPartition{Topic: "t", Partition: 1}
	ask := txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t0}
	var ran []string
	runAs := func(name string) func(int16, *heldBatches) {
		return func(code int16, _ *heldBatches) { ran = append(ran, fmt.Sprintf("%s:%v", name, code == 0)) }
	}
	first, how := p.begin(ask, runAs("first"))
	if how != produceAsk {
		t.Fatalf("the first produce of a transactional id: %d, want it to ask", how)
	}
	// Another partition: not covered by the first's add, so it asks too.
	second, how := p.begin(txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t1}, runAs("second"))
	if how != produceAsk {
		t.Fatalf("a produce to a partition no queued add asked for: %d, want it to ask", how)
	}
	p.follow("x", func(*heldBatches) { ran = append(ran, "direct") }) // behind both adds
	p.ready(txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t1}, second, 0)
	if len(ran) != 0 {
		t.Fatalf("ran %v before the first add was answered", ran)
	}
	p.ready(ask, first, refused) // refused: the first goes on unadded
	if want := []string{"first:false", "second:true", "direct"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}

	// A produce that comes while the last queued one is handed on goes
	// after that one's messages, not in between.
	ran = nil
	only, _ := p.begin(ask, func(int16, *heldBatches) {
		ran = append(ran, "only-start")
		p.follow("x", func(*heldBatches) { ran = append(ran, "during") })
		ran = append(ran, "only-end")
	})
	p.ready(ask, only, 0)
	if want := []string{"only-start", "only-end", "during"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	// Nothing queued and the partitions added: a produce goes at once.
	if _, how := p.begin(ask, runAs("again")); how != produceStraight {
		t.Fatalf("a produce to added partitions, nothing queued: %d, want it straight", how)
	}
}

// A produce whose partitions an add in flight asked for (same producer id
// and epoch) asks nothing: it goes right after, with that add's outcome;
// one of another epoch, or to a partition the add did not ask for, asks.
func TestProducedAddsFollowAnAddInFlight(t *testing.T) {
	var p producedAdds
	t0 := logstore.TopicPartition{Topic: "t", Partition: 0}
	t1 := logstore.TopicPartition{Topic: "t", Partition: 1}
	lead := txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t0, more: []logstore.TopicPartition{t1}}
	var ran []string
	runAs := func(name string) func(int16, *heldBatches) {
		return func(code int16, _ *heldBatches) { ran = append(ran, fmt.Sprintf("%s:%v", name, code == 0)) }
	}
	q, how := p.begin(lead, runAs("lead"))
	if how != produceAsk {
		t.Fatalf("lead: %d, want it to ask", how)
	}
	if _, how := p.begin(txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t1}, runAs("follower")); how != produceAfterAdd {
		t.Fatalf("a produce to partitions the lead asked for: %d, want it to follow", how)
	}
	if _, how := p.begin(txnAsk{txnID: "x", producerID: 7, epoch: 2, tp: t1}, runAs("other-epoch")); how != produceAsk {
		t.Fatalf("a produce of another epoch: %d, want it to ask", how)
	}
	p.ready(lead, q, 0)
	if want := []string{"lead:true", "follower:true"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v (the other epoch waits for its own add)", ran, want)
	}
	// A refused lead: its follower goes on unadded, so its partitions
	// verify for themselves.
	ran = nil
	q2, _ := p.begin(txnAsk{txnID: "y", producerID: 8, epoch: 0, tp: t0}, runAs("lead"))
	if _, how := p.begin(txnAsk{txnID: "y", producerID: 8, epoch: 0, tp: t0}, runAs("follower")); how != produceAfterAdd {
		t.Fatalf("follower: %d", how)
	}
	p.ready(txnAsk{txnID: "y", producerID: 8, epoch: 0, tp: t0}, q2, refused)
	if want := []string{"lead:false", "follower:false"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}

// The produces an add held go on together when it is answered: their
// partitions' new batches wait in one heldBatches, sent after the last one
// ran, so each partition takes all of them in one batch (one append); a
// produce handed on alone sends its batches at once (held nil), as before.
func TestProducedAddsHoldTheBatchesOfProducesReadyTogether(t *testing.T) {
	var p producedAdds
	t0 := logstore.TopicPartition{Topic: "t", Partition: 0}
	t1 := logstore.TopicPartition{Topic: "t", Partition: 1}
	lead := txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t0, more: []logstore.TopicPartition{t1}}
	var ran []string
	var helds []*heldBatches
	runAs := func(name string) func(int16, *heldBatches) {
		return func(_ int16, held *heldBatches) {
			ran = append(ran, fmt.Sprintf("%s:%v", name, held != nil))
			helds = append(helds, held)
		}
	}
	q, _ := p.begin(lead, runAs("lead"))
	for _, name := range []string{"second", "third"} {
		if _, how := p.begin(txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: t1}, runAs(name)); how != produceAfterAdd {
			t.Fatalf("%s: %d, want it to follow the add in flight", name, how)
		}
	}
	p.ready(lead, q, 0)
	if want := []string{"lead:true", "second:true", "third:true"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if helds[0] != helds[1] || helds[1] != helds[2] {
		t.Fatal("the produces handed on together did not share their held batches")
	}
	// Nothing queued: a produce that asks nothing goes at once.
	ran = nil
	p.follow("x", func(held *heldBatches) { ran = append(ran, fmt.Sprintf("direct:%v", held != nil)) })
	if want := []string{"direct:false"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	// A produce queued alone behind its add goes alone: nothing held.
	ran, helds = nil, nil
	q, _ = p.begin(txnAsk{txnID: "y", producerID: 8, epoch: 0, tp: t0}, runAs("alone"))
	p.ready(txnAsk{txnID: "y", producerID: 8, epoch: 0, tp: t0}, q, 0)
	if want := []string{"alone:false"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}

// Held batches are open to the partition's messages until sent: a
// produce for the partition joins the held batch (one append), and
// sending hands the batches to their partitions in the order they were
// made, the last one inline.
func TestHeldBatchesJoinAndGoInOrder(t *testing.T) {
	var q produceQueues
	a, b := &actor.PID{Id: "a"}, &actor.PID{Id: "b"}
	held := &heldBatches{}
	q.sendHeld(nil, a, &producePartition{records: []byte("1")}, held)
	q.sendHeld(nil, b, &producePartition{records: []byte("2")}, held)
	q.sendHeld(nil, a, &producePartition{records: []byte("3")}, held)
	if joined := q.add(b, &producePartition{records: []byte("4")}, true); joined != nil {
		t.Fatal("a message for a partition with a held batch made a batch of its own")
	}
	if len(held.batches) != 2 || held.batches[0].pid != a || held.batches[1].pid != b {
		t.Fatalf("held %d batches, want a's then b's", len(held.batches))
	}
	if n := len(held.batches[0].msgs); n != 2 {
		t.Fatalf("a's batch holds %d messages, want 2", n)
	}
	if n := len(held.batches[1].msgs); n != 2 {
		t.Fatalf("b's batch holds %d messages, want 2", n)
	}
}

// A produce that comes while a failed add is still being handed on (the
// producer's retry, sent as soon as the refusal reached it) asks anew: it
// does not take the failure of an add answered before it came.
func TestProducedAddsRetryAfterAFailedAddAsksAgain(t *testing.T) {
	var p producedAdds
	ask := txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: logstore.TopicPartition{Topic: "t", Partition: 0}}
	var retryHow int
	first, _ := p.begin(ask, func(int16, *heldBatches) {
		_, retryHow = p.begin(ask, func(int16, *heldBatches) {})
	})
	p.ready(ask, first, kerr.RequestTimedOut.Code)
	if retryHow != produceAsk {
		t.Fatalf("a retry that came while the timed-out add was handed on: %d, want it to ask (%d)", retryHow, produceAsk)
	}
}
