package sim

// event is one thing that happens at a virtual time. Events at the same
// time run in the order they were scheduled (seq), so the run depends on
// nothing but the seed.
type event struct {
	atMs int64
	seq  uint64
	fn   func()
}

// eventQueue is a binary min-heap of events by (atMs, seq).
type eventQueue struct {
	items []event
	seq   uint64
}

func (q *eventQueue) len() int { return len(q.items) }

func less(a, b *event) bool {
	return a.atMs < b.atMs || (a.atMs == b.atMs && a.seq < b.seq)
}

// push schedules fn at atMs.
func (q *eventQueue) push(atMs int64, fn func()) {
	q.seq++
	q.items = append(q.items, event{atMs: atMs, seq: q.seq, fn: fn})
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&q.items[i], &q.items[parent]) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

// peekMs is the time of the next event; the queue must not be empty.
func (q *eventQueue) peekMs() int64 { return q.items[0].atMs }

// pop removes and returns the next event.
func (q *eventQueue) pop() event {
	top := q.items[0]
	n := len(q.items) - 1
	q.items[0] = q.items[n]
	q.items[n] = event{}
	q.items = q.items[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && less(&q.items[l], &q.items[m]) {
			m = l
		}
		if r < n && less(&q.items[r], &q.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}
