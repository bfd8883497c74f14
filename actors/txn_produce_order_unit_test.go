package actors

import (
	"slices"
	"testing"

	"gregor/logstore"
)

// producedAdds hands a transactional id's produces on in the order they
// came: an add answered early waits for the one before it, a produce that
// asks nothing waits for the adds ahead of it, and a produce that comes
// while another is being handed on (here, from inside its run) goes after
// it, never straight to the partitions.
func TestProducedAddsKeepArrivalOrder(t *testing.T) {
	var p producedAdds
	tp := logstore.TopicPartition{Topic: "t", Partition: 0}
	ask := txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: tp}
	var ran []string
	first, second := p.begin(ask), p.begin(ask)
	if first == nil || second == nil {
		t.Fatal("the first adds of a transactional id must be asked")
	}
	p.follow("x", func() { ran = append(ran, "direct") }) // behind both adds
	p.ready(ask, second, true, func() { ran = append(ran, "second") })
	if len(ran) != 0 {
		t.Fatalf("ran %v before the first add was answered", ran)
	}
	p.ready(ask, first, true, func() {
		ran = append(ran, "first")
		// Comes while the first is handed on: it must queue.
		p.follow("x", func() { ran = append(ran, "during") })
		if ran[len(ran)-1] == "during" {
			t.Error("a produce went ahead of the one being handed on")
		}
	})
	if want := []string{"first", "second", "direct", "during"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	// A produce that comes while the last queued one is handed on goes
	// after that one's messages, not in between.
	ran = nil
	only := p.begin(txnAsk{txnID: "x", producerID: 7, epoch: 1, tp: logstore.TopicPartition{Topic: "t", Partition: 1}})
	p.ready(ask, only, true, func() {
		ran = append(ran, "only-start")
		p.follow("x", func() { ran = append(ran, "during") })
		ran = append(ran, "only-end")
	})
	if want := []string{"only-start", "only-end", "during"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	// Nothing queued and the partition added: a produce goes at once.
	if q := p.begin(ask); q != nil {
		t.Fatal("a produce to added partitions, nothing queued, asks again")
	}
	p.follow("x", func() { ran = append(ran, "last") })
	if ran[len(ran)-1] != "last" {
		t.Fatalf("ran %v, want the last produce at once", ran)
	}
}
