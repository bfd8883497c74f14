package actors

// smallAppendBytes bounds the records of a Produce (or of held batches)
// whose every partition appends on the sender's goroutine, one after
// another, where each finds its partition idle: the sender first sends
// every batch, so each partition counts its message as queued
// (fetchBoard.queued) and a Fetch that one append wakes reads the others
// behind theirs, then runs the partitions it found idle, in order
// (inlineRuns). Handing a partition to a worker wakes a goroutine, and
// often an idle thread of the Go scheduler that steals it (sleeping first
// when it is the sender's next goroutine): dearer than the write of a few
// kilobytes. A transaction of 100 records of 100 B over six partitions
// (BenchmarkTransactions) handed five of its six data appends to workers;
// larger produces still append their partitions in parallel.
const smallAppendBytes = 64 << 10

// sendsBytes counts the records of a fan-out's produces.
func sendsBytes(sends []fanOutSend) int {
	total := 0
	for _, s := range sends {
		if p, ok := s.msg.(*producePartition); ok {
			total += len(p.records)
		}
	}
	return total
}

// heldBytes is the records' size of a batch not sent yet (heldBatches):
// senders may still add to it.
func (b *produceBatch) heldBytes() int {
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	return b.bytes
}

// inlineRuns are the runs of the mailboxes a sender found idle and claimed
// (deferredInline), to make once it sent all its messages.
type inlineRuns struct{ runs []func() }

// smallRuns is a collector of deferred runs when small, else nil (no run
// deferred).
func smallRuns(small bool) *inlineRuns {
	if !small {
		return nil
	}
	return &inlineRuns{}
}

// run makes the runs in the order they were claimed; nil runs nothing.
func (r *inlineRuns) run() {
	if r == nil {
		return
	}
	for _, fn := range r.runs {
		fn()
	}
	r.runs = nil
}

// deferRun implements deferredInline.
func (b *produceBatch) deferRun(run func()) bool {
	if b.deferTo == nil {
		return false
	}
	b.deferTo.runs = append(b.deferTo.runs, run)
	return true
}
