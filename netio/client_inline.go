package netio

import (
	"errors"
)

// Inline sends: a Send made while the connection's writer goroutine waits
// for work writes the queued requests itself, with one non-blocking write,
// instead of waking the writer goroutine (and with it often an idle thread
// of the Go scheduler) to do it. A replica fetcher's next Fetch then goes
// out from the fetcher's own goroutine. Only a request sent while no other
// waits or is on the wire goes inline: requests sent in a burst go out in
// one write of the writer goroutine, not in a write each.
//
// The writing has one owner at a time (clientConn.owner, under Client.mu):
// the writer goroutine while it runs, nobody while it waits, a sender while
// it writes inline. A sender that finds no owner takes the ownership; what
// the socket does not take at once, and the requests queued meanwhile, it
// hands to the writer goroutine with the ownership. Requests queued while a
// sender writes inline wake nobody: the sender finds them when it gives the
// ownership up.

// sendInline reports whether the Send that just queued a request on c
// writes it itself (it then owns the writing of cc); c.mu is held.
func (c *Client) sendInline() *clientConn {
	cc := c.conn
	if cc == nil || cc.raw == nil || cc.owner != ownerNone || c.queued != 1 || cc.onWireCount() != 0 {
		return nil
	}
	cc.owner = ownerInline
	return cc
}

// parkWriter gives the writer goroutine the writing when there is work for
// it and nobody writes inline (true), else gives the writing up (false):
// it then waits for a wake-up.
func (cc *clientConn) parkWriter() bool {
	c := cc.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case cc.owner == ownerInline:
		return false
	case c.queued > 0 || len(cc.wbuf) > 0:
		cc.owner = ownerWriter
		return true
	}
	cc.owner = ownerNone
	return false
}

// writeInline writes what is queued, as far as the socket takes it at once,
// then gives the writing up.
func (cc *clientConn) writeInline() {
	if stop := cc.appendBatch(false); !stop {
		cc.tryWrite()
	}
	c := cc.c
	c.mu.Lock()
	switch {
	case cc.writerGone:
		cc.owner = ownerGone
		c.mu.Unlock()
		cc.inlineDone <- struct{}{}
		return
	case len(cc.wbuf) > 0 || c.queued > 0:
		cc.owner = ownerWriter
		c.mu.Unlock()
		c.inlineHandedOn.Add(1)
		select {
		case c.wake <- struct{}{}:
		default:
		}
		return
	}
	cc.owner = ownerNone
	c.mu.Unlock()
}

// tryWrite writes wbuf with one non-blocking write; what the socket does
// not take stays in wbuf, for the writer goroutine. The acks=0 requests are
// complete once all is written.
func (cc *clientConn) tryWrite() {
	if len(cc.wbuf) == 0 {
		return
	}
	// An error (a closed socket) leaves the bytes to the writer
	// goroutine, which meets it again and fails the connection.
	n := cc.raw.write(cc.wbuf)
	cc.c.inlineWritten.Add(1)
	cc.wbuf = cc.wbuf[:copy(cc.wbuf, cc.wbuf[n:])]
	if len(cc.wbuf) == 0 {
		if cap(cc.wbuf) > clientKeptWriteBytes {
			cc.wbuf = nil
		}
		cc.completeUnanswered(nil)
	}
}

// writerExits runs as the writer goroutine ends: it waits for an inline
// write under way to finish (its requests then are on the wire, failed with
// the connection's), and fails the acks=0 requests left unwritten.
func (cc *clientConn) writerExits() {
	c := cc.c
	c.mu.Lock()
	for cc.owner == ownerInline {
		cc.writerGone = true
		c.mu.Unlock()
		<-cc.inlineDone
		c.mu.Lock()
	}
	cc.owner = ownerGone
	c.mu.Unlock()
	cc.completeUnanswered(errors.New("connection closed before the write"))
}

// onWireCount is the number of requests on the wire.
func (cc *clientConn) onWireCount() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.onWire)
}
