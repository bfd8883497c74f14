package netio

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Inline writes: the goroutine that answers the head of a connection's
// ring while the writer goroutine waits writes the answer itself, with one
// non-blocking write, instead of waking the writer goroutine to do it. A
// follower's Fetch answered by a partition actor then costs one goroutine
// hand-off less (a wake-up of the writer, and with it often of an idle
// thread of the Go scheduler to run it). Only the answer to the one request
// in flight on its connection is written inline: answers that come in a
// burst (a producer's pipelined requests completing together) would each
// cost a write of their own, where the writer goroutine writes them in one.
//
// The frame writer has one owner at a time (conn.owner, under conn.mu): the
// writer goroutine while it runs, nobody while it waits, an answering
// goroutine while it writes inline. Only an answer to the head found with
// no owner is written inline, and only one that encodes into the writer's
// buffer whole, or whose body lies in memory (an EncodedResponse whose
// parts are bytes or PartBuffers in memory: a follower's Fetch answered
// from the records a Produce brought, or from cached blocks), which goes
// out from where it lies with one writev (writeSlotVectored); never one
// with a part in a file (sendfile), so that the inline writer never
// blocks: what the socket does not take at once (left in the buffer, or
// pending where it lies), and every answer it finds at the head after its
// write that it may not write, it hands to the writer goroutine with the
// ownership. Written by the writer goroutine, a follower's Fetch answer
// would wake it: under an RF3 acks=all produce, 48 of a node's ~330
// goroutine wake-ups per second, the only ones not a socket's readiness or
// a timer. Written inline, the three brokers' context switches per record
// at replication factor 3 measured 14% lower (1 KiB records) and 12%
// (100 B), their CPU per record 5-7% (16 interleaved rounds on a loaded
// machine, medians of the rounds' ratios; the RF1 cells, which answer no
// follower, moved 0-7% and 4-6%).

// writerOwner is who owns a connection's frame writer.
type writerOwner uint8

const (
	// ownerWriter: the writer goroutine, running.
	ownerWriter writerOwner = iota
	// ownerNone: nobody; the writer goroutine waits for a wake-up.
	ownerNone
	// ownerInline: an answering goroutine writing inline.
	ownerInline
	// ownerGone: the writer goroutine ended; nothing is written any more.
	ownerGone
)

// maxInlineRounds bounds the writes one answering goroutine does inline
// for answers that keep coming while it writes; then the writer goroutine
// takes over.
const maxInlineRounds = 4

// inlineable says whether an answer encodes into the frame writer's buffer
// whole, so that writing it never blocks.
func inlineable(resp kmsg.Response) bool {
	enc, ok := resp.(*EncodedResponse)
	if !ok {
		return true // nil (nothing to send) or a kmsg response
	}
	for i := range enc.Parts {
		p := &enc.Parts[i]
		if _, ok := p.copiedFrom(); ok {
			continue
		}
		if p.From != nil || len(p.Bytes) >= directWriteBytes {
			return false
		}
	}
	return true
}

// inlineable says whether the slot's answer may be written inline: it
// encodes into the frame writer's buffer whole, or its body lies in memory
// (parts) and goes out with one writev.
func (s *responseSlot) inlineable() bool { return s.parts != nil || inlineable(s.resp) }

// memoryParts is the body of resp where it lies, part by part in order,
// when resp is an EncodedResponse whose From parts all hold their bytes in
// memory (PartBuffers: held batches, the log's tail, cached blocks); nil
// otherwise. The slices stay valid until resp's Release.
func memoryParts(resp kmsg.Response) [][]byte {
	enc, ok := resp.(*EncodedResponse)
	if !ok {
		return nil
	}
	parts := make([][]byte, 0, len(enc.Parts)+4)
	for i := range enc.Parts {
		p := &enc.Parts[i]
		if p.From == nil {
			parts = append(parts, p.Bytes)
			continue
		}
		pb, ok := p.From.(PartBuffers)
		if !ok {
			return nil
		}
		before := len(parts)
		if parts, ok = pb.AppendBuffers(parts); !ok {
			return nil
		}
		var n int64
		for _, b := range parts[before:] {
			n += int64(len(b))
		}
		if n != p.FromBytes {
			return nil // the writer goroutine's path reports it
		}
	}
	return parts
}

// parkWriter gives up the writer goroutine's ownership before it waits for
// a wake-up; false when there is work for it already (then it keeps it).
func (c *conn) parkWriter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.readerDone || (c.count > 0 && c.ring[c.head].answered) {
		return false
	}
	c.owner = ownerNone
	return true
}

// awaitWriter waits until the writer goroutine may run again and takes the
// ownership back: woken while an inline writer owns the frame writer, it
// waits on (that one hands it on when it finishes). False when the
// connection closed.
func (c *conn) awaitWriter() bool {
	for {
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			return false
		}
		c.mu.Lock()
		if c.owner != ownerInline {
			c.owner = ownerWriter
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
	}
}

// writerExits runs as the writer goroutine ends: it releases the frame
// writer's buffer, or leaves that to the inline writer that owns it.
func (c *conn) writerExits() {
	c.mu.Lock()
	inline := c.owner == ownerInline
	if !inline {
		c.owner = ownerGone
	}
	c.writerGone = true
	c.mu.Unlock()
	if !inline {
		c.fw.release()
	}
}

// takeInlineHead removes the head slot if it is answered and inlineable.
func (c *conn) takeInlineHead() (responseSlot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.count == 0 || !c.ring[c.head].answered || !c.ring[c.head].inlineable() {
		return responseSlot{}, false
	}
	s := c.ring[c.head]
	c.ring[c.head] = responseSlot{}
	c.head = (c.head + 1) % len(c.ring)
	c.count--
	return s, true
}

// writeInline writes the answered head slots with the ownership of the
// frame writer (owner is ownerInline), then gives the ownership up, to the
// writer goroutine when something is left for it.
func (c *conn) writeInline() {
	fw := &c.fw
	for round := 1; ; round++ {
		for fw.pending == nil && fw.buffered() < flushThresholdBytes {
			slot, ok := c.takeInlineHead()
			if !ok {
				break
			}
			<-c.slots // never blocks: every slot in the ring holds a token
			write := c.writeSlot
			if slot.parts != nil {
				write = c.writeSlotVectored
			}
			if err := write(fw, &slot); err != nil {
				// Only encoding fails here: the frame is broken.
				c.log.Debug("closing connection: encoding failed", zap.Error(err))
				c.close()
				break
			}
			c.completed(&slot)
			c.srv.inlineWritten.Add(1)
		}
		c.tryWrite(fw)
		if !c.endInline(round) {
			return
		}
	}
}

// endInline ends a round of inline writing: it reports true when the
// caller writes another round, else it has given the ownership up.
func (c *conn) endInline(round int) bool {
	c.mu.Lock()
	if c.writerGone {
		c.owner = ownerGone
		c.mu.Unlock()
		c.fw.release()
		return false
	}
	more := c.count > 0 && c.ring[c.head].answered
	switch {
	case c.fw.buffered() > 0:
		c.srv.inlineHandedOn.Add(1)
		fallthrough
	case c.closed || c.readerDone || (more && (round >= maxInlineRounds || !c.ring[c.head].inlineable())):
		c.owner = ownerWriter
		c.mu.Unlock()
		c.signalWriter()
		return false
	case more:
		c.mu.Unlock()
		return true
	}
	c.fw.idle()
	c.owner = ownerNone
	c.mu.Unlock()
	return false
}

// tryWrite writes what the frame writer buffered with one non-blocking
// write; what the socket does not take stays buffered.
func (c *conn) tryWrite(fw *frameWriter) {
	if fw.buffered() == 0 || fw.pending != nil {
		return // pending bytes go first, from the writer goroutine
	}
	// An error (a deadline that passed, a closed socket) leaves the bytes
	// to the writer goroutine, which writes them or meets it again.
	n := c.raw.write(fw.out)
	fw.sentBytes += n
	if n == len(fw.out) {
		fw.emptyOut()
	} else {
		fw.out = fw.out[:copy(fw.out, fw.out[n:])]
	}
	c.noteSent(fw)
}

// writeSlotVectored writes a slot whose body lies in memory (parts) with
// one non-blocking writev: what the frame writer buffered, the frame's size
// prefix and header, and the body from where it lies. What the socket does
// not take stays where it lies, pending (frameWriter.pending), for the
// writer goroutine, to which the caller then hands the frame writer; the
// answer and its request frame are released once it is written.
func (c *conn) writeSlotVectored(fw *frameWriter, slot *responseSlot) error {
	enc := slot.resp.(*EncodedResponse)
	frame := slot.frame
	headerBytes := int64(4)
	if responseHeaderHasTags(enc) {
		headerBytes++
	}
	size := headerBytes + enc.bodyBytes()
	if size > math.MaxInt32 {
		c.releaseResponse(enc)
		frame.release()
		return fmt.Errorf("encoded %s response: %d bytes exceed a frame", kmsg.NameForKey(enc.Key()), size)
	}
	fw.reserve(frameSizeBytes + int(headerBytes))
	fw.out = kbin.AppendInt32(fw.out, int32(size))
	fw.out = kbin.AppendInt32(fw.out, slot.corr)
	if headerBytes == 5 {
		fw.out = append(fw.out, 0)
	}
	bufs := append(append(fw.iov[:0], fw.out), slot.parts...)
	// An error (a deadline that passed, a closed socket) leaves the bytes
	// to the writer goroutine, which writes them or meets it again.
	n := c.raw.writev(bufs, &fw.sysIov)
	fw.sentBytes += n
	if fw.keepUnwritten(bufs, n) {
		// The pending bytes hold the answer's memory until written (the
		// release made only then: a closure is an allocation).
		fw.pendingDone = func() {
			c.releaseResponse(enc)
			frame.release()
		}
	} else {
		c.releaseResponse(enc)
		frame.release()
	}
	clear(bufs) // the parts' memory goes back with the response
	fw.iov = bufs[:0]
	c.noteSent(fw)
	return nil
}

// keepUnwritten takes what a write of bufs (the frame writer's buffer
// first, then a response's parts) left past its first n bytes: nothing
// (false: the caller releases the response now), or the rest, pending from
// where it lies until the writer goroutine writes it (true: the buffer
// then belongs to the pending bytes, the frame writer starts a new one, and
// the caller sets pendingDone, which releases the response once written).
func (fw *frameWriter) keepUnwritten(bufs [][]byte, n int) bool {
	var rest [][]byte
	left := 0
	for _, b := range bufs {
		if n >= len(b) {
			n -= len(b)
			continue
		}
		rest = append(rest, b[n:])
		left += len(b) - n
		n = 0
	}
	if left == 0 {
		fw.emptyOut()
		return false
	}
	fw.pending, fw.pendingBytes, fw.pendingBuffer = rest, left, fw.out
	fw.out = nil
	return true
}
