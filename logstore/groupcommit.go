package logstore

import (
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// ErrGroupCommitterClosed is given to waiters still pending when a
// GroupCommitter closes.
var ErrGroupCommitterClosed = errors.New("logstore: group committer closed")

// durableWaiter asks to be told when the log is durable up to offset.
type durableWaiter struct {
	offset int64
	notify func(error)
}

// GroupCommitter is the production driver of group-commit fsync: appenders
// register "tell me when everything below offset X is durable", and one
// goroutine runs Log.Sync for all waiters that accumulated while the previous
// fsync ran, so many appends share one fsync. (The simulator calls Log.Sync
// directly instead.)
type GroupCommitter struct {
	log     *Log
	logger  *zap.Logger
	waiters chan durableWaiter
	stop    chan struct{}
	done    chan struct{}
}

// NewGroupCommitter starts the committer's goroutine for log. maxWaiters
// bounds the queue of registrations: NotifyWhenDurable blocks when it is full.
func NewGroupCommitter(log *Log, maxWaiters int, logger *zap.Logger) *GroupCommitter {
	if logger == nil {
		logger = zap.NewNop()
	}
	g := &GroupCommitter{
		log: log, logger: logger,
		waiters: make(chan durableWaiter, max(maxWaiters, 1)),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	go g.run()
	return g
}

// NotifyWhenDurable calls notify(nil) once every record below offset (pass
// the log end offset after an append) is covered by a completed fsync, or
// notify(err) if the fsync failed, the records were truncated away, or the
// committer closed. notify runs on the committer's goroutine and must not
// block. Register from the appender; a registration racing Close may be
// answered only by ErrGroupCommitterClosed or, if it slipped in after Close
// drained the queue, not at all, so stop registering before Close.
func (g *GroupCommitter) NotifyWhenDurable(offset int64, notify func(error)) {
	if g.log.FlushedOffset() >= offset {
		notify(nil)
		return
	}
	select {
	case <-g.stop:
		notify(ErrGroupCommitterClosed)
		return
	default:
	}
	select {
	case g.waiters <- durableWaiter{offset: offset, notify: notify}:
	case <-g.stop:
		notify(ErrGroupCommitterClosed)
	}
}

// Close stops the goroutine after answering every registered waiter.
func (g *GroupCommitter) Close() {
	close(g.stop)
	<-g.done
}

func (g *GroupCommitter) run() {
	defer close(g.done)
	pending := make([]durableWaiter, 0, cap(g.waiters))
	for {
		if len(pending) == 0 {
			select {
			case w := <-g.waiters:
				pending = append(pending, w)
			case <-g.stop:
				g.drain(pending)
				return
			}
		}
		pending = g.collect(pending)
		pending = g.syncAndNotify(pending)
	}
}

// collect takes every waiter already queued, without blocking.
func (g *GroupCommitter) collect(pending []durableWaiter) []durableWaiter {
	for range cap(g.waiters) {
		select {
		case w := <-g.waiters:
			pending = append(pending, w)
		default:
			return pending
		}
	}
	return pending
}

// syncAndNotify runs one Sync and answers the waiters it covered; it returns
// the rest.
func (g *GroupCommitter) syncAndNotify(pending []durableWaiter) []durableWaiter {
	err := g.log.Sync()
	if err != nil {
		g.logger.Error("group commit fsync failed", zap.String("dir", g.log.Dir()), zap.Error(err))
	}
	flushed, end := g.log.FlushedOffset(), g.log.LogEndOffset()
	rest := pending[:0]
	for _, w := range pending {
		switch {
		case err != nil:
			w.notify(err)
		case w.offset <= flushed:
			w.notify(nil)
		case w.offset > end:
			w.notify(fmt.Errorf("offset %d is past the log end offset %d (truncated)", w.offset, end))
		default:
			rest = append(rest, w)
		}
	}
	return rest
}

// drain answers the pending and queued waiters at shutdown.
func (g *GroupCommitter) drain(pending []durableWaiter) {
	pending = g.collect(pending)
	for len(pending) > 0 {
		before := len(pending)
		pending = g.syncAndNotify(pending)
		if len(pending) == before {
			break
		}
	}
	for _, w := range pending {
		w.notify(ErrGroupCommitterClosed)
	}
}
