package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// fanOut sends one message per partition of a request to the partitions'
// actors and merges their answers: each answer is filled into the response as
// it comes, and done runs exactly once, after the last answer or at the
// deadline with the answers in by then (a partition actor stopped with the
// request still in its mailbox never answers, and a connection's responses
// must never wait for it forever). Produce, ListOffsets, DeleteRecords and
// the reads of a Fetch all go through it.
type fanOut[R any] struct {
	m     merger
	sends []fanOutSend
	// late, if set, gets each answer that came after done (to release
	// what it holds).
	late func(R)
}

type fanOutSend struct {
	pid *actor.PID
	msg any
}

// ask queues a message to pid built around its reply function; fill records
// the answer (under the fan-out's lock). Call it before run.
func (f *fanOut[R]) ask(pid *actor.PID, fill func(R), build func(reply func(R)) any) {
	f.m.expect()
	f.sends = append(f.sends, fanOutSend{pid: pid, msg: build(func(res R) {
		if !f.m.finish(func() { fill(res) }) && f.late != nil {
			f.late(res)
		}
	})})
}

// expectAnswer queues a message that answers through the fan-out's merger
// itself (m.finish, as a produceSlot does). Call it before run.
func (f *fanOut[R]) expectAnswer(pid *actor.PID, msg any) {
	f.m.expect()
	f.sends = append(f.sends, fanOutSend{pid: pid, msg: msg})
}

// tell queues a message that expects no answer (acks=0 produce).
func (f *fanOut[R]) tell(pid *actor.PID, msg any) {
	f.sends = append(f.sends, fanOutSend{pid: pid, msg: msg})
}

// run arms the deadline, then sends every queued message; done runs once
// every asked partition answered or timeout passed (at once when none was
// asked).
func (f *fanOut[R]) run(root *actor.RootContext, timeout time.Duration, done func()) {
	f.m.done = done
	f.m.start(timeout)
	for _, s := range f.sends {
		root.Send(s.pid, s.msg)
	}
	f.sends = nil
}

// merger counts the answers of one fanOut and calls done exactly once: after
// the last answer, or at its deadline. Answers arriving after done are
// refused.
type merger struct {
	mu       sync.Mutex
	pending  int
	finished bool
	timer    *time.Timer
	done     func()
}

// expect counts one more answer to wait for; call it before start.
func (m *merger) expect() { m.pending++ }

// start arms the deadline, or calls done at once when nothing is expected.
func (m *merger) start(timeout time.Duration) {
	m.mu.Lock()
	if m.pending == 0 {
		m.finished = true
		m.mu.Unlock()
		m.done()
		return
	}
	m.timer = time.AfterFunc(timeout, m.expire)
	m.mu.Unlock()
}

// finish records one answer (fill runs under the lock) and calls done after
// the last one. It reports false, without calling fill, for an answer that
// came after done.
func (m *merger) finish(fill func()) bool {
	m.mu.Lock()
	if m.finished {
		m.mu.Unlock()
		return false
	}
	fill()
	m.pending--
	last := m.pending == 0
	if last {
		m.finished = true
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	m.mu.Unlock()
	if last {
		m.done()
	}
	return true
}

func (m *merger) expire() {
	m.mu.Lock()
	if m.finished {
		m.mu.Unlock()
		return
	}
	m.finished = true
	m.mu.Unlock()
	m.done()
}

// askEach asks for each of n parts: ask is given the part's index and the
// function its answer calls with what merges it into the response. Merges
// run one at a time; done runs once, after the last (at once for no part).
// It sets no deadline: each part's answer must come, as a coordinator's
// does (a request it never took is answered as undelivered, one it took
// when it stops).
func askEach(n int, ask func(i int, answered func(merge func())), done func()) {
	if n == 0 {
		done()
		return
	}
	var mu sync.Mutex
	left := n
	for i := range n {
		ask(i, func(merge func()) {
			mu.Lock()
			merge()
			left--
			last := left == 0
			mu.Unlock()
			if last {
				done()
			}
		})
	}
}
