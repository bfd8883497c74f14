package netio

import (
	"time"
)

// headState is what the writer finds at the head of the response ring.
type headState int

const (
	// headTaken: the head was answered and has been taken.
	headTaken headState = iota
	// headWaiting: the head is not answered yet, or the ring is empty.
	headWaiting
	// allWritten: reading stopped and every slot was written.
	allWritten
	// connClosed: the connection was closed.
	connClosed
)

// takeHead removes the head slot if it is answered.
func (c *conn) takeHead() (responseSlot, headState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return responseSlot{}, connClosed
	case c.count > 0 && c.ring[c.head].answered:
		s := c.ring[c.head]
		// A zero slot has seq 0, so a second respond for s panics.
		c.ring[c.head] = responseSlot{}
		c.head = (c.head + 1) % len(c.ring)
		c.count--
		return s, headTaken
	case c.count == 0 && c.readerDone:
		return responseSlot{}, allWritten
	}
	return responseSlot{}, headWaiting
}

// writeLoop writes the answers in request order, batching every answer that
// is ready into one write, until the connection closes or, after reading
// stopped, every request is answered. It returns the write error, if any.
//
// While it waits for an answer it gives up the frame writer (parkWriter):
// the goroutine that answers the head may then write it inline
// (writer_inline.go), and hands the writer back what it could not write.
func (c *conn) writeLoop() error {
	fw := &c.fw
	defer c.writerExits()
	// It starts as it parks: owning nothing until woken.
	if !c.awaitWriter() {
		return nil
	}
	for {
		slot, state := c.takeHead()
		switch state {
		case connClosed:
			return nil
		case allWritten:
			return c.flush(fw)
		case headWaiting:
			if err := c.flush(fw); err != nil {
				return err
			}
			fw.idle()
			if !c.parkWriter() {
				continue
			}
			if !c.awaitWriter() {
				return nil
			}
			continue
		}
		<-c.slots // never blocks: every slot in the ring holds a token
		if err := c.writeSlot(fw, &slot); err != nil {
			return err
		}
		c.completed(&slot)
		if fw.buffered() >= flushThresholdBytes {
			if err := c.flush(fw); err != nil {
				return err
			}
		}
	}
}

// completed tells the observer a slot's answer was written.
func (c *conn) completed(slot *responseSlot) {
	if c.srv.observer != nil {
		c.srv.observer.RequestCompleted(slot.apiKey, time.Since(slot.receivedAt))
	}
}

// writeSlot encodes the answer of a slot taken from the ring into the frame
// writer, then releases the answer and the request frame: every From part is
// on the wire (or failed) by now, and the rest was copied into the buffer.
func (c *conn) writeSlot(fw *frameWriter, slot *responseSlot) error {
	defer slot.frame.release()
	if slot.resp == nil {
		return nil
	}
	err := fw.appendResponse(slot.corr, slot.resp)
	c.releaseResponse(slot.resp)
	c.noteSent(fw)
	return err
}

// flush writes what the frame writer buffered.
func (c *conn) flush(fw *frameWriter) error {
	if fw.buffered() == 0 {
		return nil
	}
	err := fw.flush()
	c.noteSent(fw)
	return err
}

// noteSent records bytes written: activity for the idle timeout, metrics.
func (c *conn) noteSent(fw *frameWriter) {
	n := fw.takeSentBytes()
	if n == 0 {
		return
	}
	c.touch()
	if c.srv.observer != nil {
		c.srv.observer.BytesSent(n)
	}
}

// armWriteDeadline bounds the next write by connections.max.idle.ms: a client
// that stops reading for that long is disconnected.
func (c *conn) armWriteDeadline() {
	if idle := c.srv.cfg.idleTimeout(); idle > 0 {
		_ = c.netConn.SetWriteDeadline(time.Now().Add(idle))
	}
}
