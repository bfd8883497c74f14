package actors

import (
	"sync"
	"time"
)

// merger collects the partition answers of one request and calls done exactly
// once: after the last answer, or at its deadline with the answers in by then
// (a partition actor stopped with the request still in its mailbox never
// answers, and a connection's responses must never wait for it forever).
// Answers arriving after done are dropped.
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
