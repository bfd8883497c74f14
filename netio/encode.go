package netio

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"syscall"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EncodedResponse is a response whose body is already encoded, in parts, so
// that large payloads (stored record batches) can go to the socket without
// being copied into one buffer, and a part can be an io.WriterTo such as a
// file section written with sendfile. It costs nothing when unused: the writer
// checks for it with one type assertion.
//
// The embedded Response gives the key and version (for the response header);
// its fields are not encoded. netio writes the size prefix and the response
// header, then the parts in order.
type EncodedResponse struct {
	kmsg.Response
	// Parts are the response body, concatenated.
	Parts []EncodedPart
	// Release, if set, is called exactly once when netio is done with the
	// parts: after they were written, or when the response is dropped
	// because its connection closed. It frees what the From parts read.
	Release func()
	// Buffer, if set, is the buffer the Bytes parts were encoded into,
	// from Request.ResponseBuffer (or grown from it by append): netio
	// returns it to the server's pool after Release.
	Buffer []byte
}

// releaseResponse calls resp's Release hook, if it has one, and returns its
// Buffer to the pool.
func (c *conn) releaseResponse(resp kmsg.Response) {
	enc, ok := resp.(*EncodedResponse)
	if !ok {
		return
	}
	if enc.Release != nil {
		enc.Release()
	}
	if enc.Buffer != nil {
		c.srv.pool.put(enc.Buffer)
	}
}

// EncodedPart is one piece of an EncodedResponse: Bytes, or, when From is set,
// the FromBytes bytes that From writes. A From part of at most
// copyFromBytes that can also append itself to a buffer (PartAppender) is
// copied into the frame writer's buffer, so that a small response goes out
// in one write instead of one per part.
type EncodedPart struct {
	Bytes     []byte
	From      io.WriterTo
	FromBytes int64
}

// PartAppender is a From part that can also copy itself: AppendTo appends
// its bytes to dst.
type PartAppender interface {
	AppendTo(dst []byte) ([]byte, error)
}

// PartBuffers is a From part whose bytes may all be in memory:
// AppendBuffers appends them to bufs and reports true, or reports false
// (bufs unchanged) when they are not. The frame writer sends such a part
// together with the bytes it buffered in one writev, instead of a write of
// the buffer and one of the part (or a sendfile). The buffers stay valid
// until the response's Release.
type PartBuffers interface {
	AppendBuffers(bufs [][]byte) ([][]byte, bool)
}

// copyFromBytes is the largest From part copied into the writer's buffer
// when it is a PartAppender: below it, the system calls a part of its own
// costs (a flush, then its write or sendfile) outweigh the copy.
const copyFromBytes = 16 << 10

// copiedFrom says whether p is a From part appendPart copies.
func (p *EncodedPart) copiedFrom() (PartAppender, bool) {
	if p.From == nil || p.FromBytes > copyFromBytes {
		return nil, false
	}
	a, ok := p.From.(PartAppender)
	return a, ok
}

// bodyBytes is the encoded length of the body.
func (r *EncodedResponse) bodyBytes() int64 {
	var n int64
	for i := range r.Parts {
		if r.Parts[i].From != nil {
			n += r.Parts[i].FromBytes
		} else {
			n += int64(len(r.Parts[i].Bytes))
		}
	}
	return n
}

// AppendTo appends the body's parts to dst, reading From parts into memory; it
// is the copying fallback (tests, tools). A From part that fails or writes a
// count other than FromBytes panics: AppendTo cannot report errors.
func (r *EncodedResponse) AppendTo(dst []byte) []byte {
	for _, p := range r.Parts {
		if p.From == nil {
			dst = append(dst, p.Bytes...)
			continue
		}
		w := appendWriter{buf: dst}
		n, err := p.From.WriteTo(&w)
		if err != nil || n != p.FromBytes {
			panic(fmt.Sprintf("netio: encoded response part wrote %d of %d bytes: %v", n, p.FromBytes, err))
		}
		dst = w.buf
	}
	return dst
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// responseHeaderHasTags reports whether the response header is v1 (a tagged
// field byte after the correlation id): flexible responses, except ApiVersions,
// whose header stays v0 so that any client can read it.
func responseHeaderHasTags(resp kmsg.Response) bool {
	return resp.IsFlexible() && resp.Key() != apiVersionsKey
}

// Thresholds of the frame writer.
const (
	// flushThresholdBytes: buffered responses are written once they
	// reach this size, even if more are ready.
	flushThresholdBytes = 256 << 10
	// directWriteBytes: an encoded part this large is written from its
	// own slice rather than copied into the buffer.
	directWriteBytes = 64 << 10
	// retainedBufferBytes: a buffer grown beyond this by a large response
	// goes back to the pool after the write.
	retainedBufferBytes = 1 << 20
	// writerBufferBytes: the buffer a frame writer takes from the pool to
	// start with, and the most it keeps while its connection is idle.
	writerBufferBytes = 16 << 10
)

// frameWriter encodes response frames into one buffer and writes it to w in
// as few writes as possible. It is used by one goroutine. Its buffer comes
// from pool (nil: plain allocations) and goes back there when it grows past
// it, when a large write is done, and when the connection goes idle.
type frameWriter struct {
	w    io.Writer
	pool *bufferPool
	out  []byte
	// beforeWrite, if set, runs before every write to w (deadlines).
	beforeWrite func()
	// sentBytes counts bytes written to w since takeSentBytes.
	sentBytes int
	// iov is flushWith's vector, kept between writes.
	iov [][]byte
	// sysIov is an inline writev's vector (rawWritev), kept between
	// writes.
	sysIov []syscall.Iovec
	// pending are the bytes an inline writev left unwritten
	// (writeSlotVectored), in order, ahead of everything buffered after
	// them: pendingBytes of them, in the buffer an inline write sent from
	// (pendingBuffer, back to the pool once written) and the memory of a
	// response that pendingDone releases.
	pending       [][]byte
	pendingBytes  int
	pendingBuffer []byte
	pendingDone   func()
}

// appendResponse adds the frame of resp (correlation id corr) to the buffer,
// writing through for EncodedResponse parts that ask for it.
func (fw *frameWriter) appendResponse(corr int32, resp kmsg.Response) error {
	// What an inline write left pending goes first: the parts below may be
	// written through.
	if err := fw.flushPending(); err != nil {
		return err
	}
	if enc, ok := resp.(*EncodedResponse); ok {
		return fw.appendEncoded(corr, enc)
	}
	fw.reserve(frameSizeBytes + 5)
	start := len(fw.out)
	fw.out = append(fw.out, 0, 0, 0, 0)
	fw.out = kbin.AppendInt32(fw.out, corr)
	if responseHeaderHasTags(resp) {
		fw.out = append(fw.out, 0)
	}
	before := fw.out
	fw.out = resp.AppendTo(fw.out)
	if cap(fw.out) != cap(before) {
		// append moved the bytes to a larger array; the old one is free.
		fw.pool.put(before)
	}
	size := len(fw.out) - start - frameSizeBytes
	if size > math.MaxInt32 {
		return fmt.Errorf("encode %s response: %d bytes exceed a frame", kmsg.NameForKey(resp.Key()), size)
	}
	binary.BigEndian.PutUint32(fw.out[start:], uint32(size))
	return nil
}

// appendEncoded adds the frame of a pre-encoded response.
func (fw *frameWriter) appendEncoded(corr int32, enc *EncodedResponse) error {
	headerBytes := int64(4)
	if responseHeaderHasTags(enc) {
		headerBytes++
	}
	size := headerBytes + enc.bodyBytes()
	if size > math.MaxInt32 {
		return fmt.Errorf("encoded %s response: %d bytes exceed a frame", kmsg.NameForKey(enc.Key()), size)
	}
	copied := 0 // the bytes appendPart copies into the buffer
	for i := range enc.Parts {
		p := &enc.Parts[i]
		if _, ok := p.copiedFrom(); ok {
			copied += int(p.FromBytes)
		} else if p.From == nil && len(p.Bytes) < directWriteBytes {
			copied += len(p.Bytes)
		}
	}
	fw.reserve(frameSizeBytes + int(headerBytes) + copied)
	fw.out = kbin.AppendInt32(fw.out, int32(size))
	fw.out = kbin.AppendInt32(fw.out, corr)
	if headerBytes == 5 {
		fw.out = append(fw.out, 0)
	}
	for _, p := range enc.Parts {
		if err := fw.appendPart(p); err != nil {
			return fmt.Errorf("encoded %s response: %w", kmsg.NameForKey(enc.Key()), err)
		}
	}
	return nil
}

// appendPart adds one part, writing large and WriterTo parts directly (but
// copying small From parts that can be copied).
func (fw *frameWriter) appendPart(p EncodedPart) error {
	if a, ok := p.copiedFrom(); ok {
		fw.reserve(int(p.FromBytes))
		out, err := a.AppendTo(fw.out)
		if err != nil {
			return fmt.Errorf("copy part: %w", err)
		}
		if n := int64(len(out) - len(fw.out)); n != p.FromBytes {
			// The frame size is already announced: the stream is broken.
			return fmt.Errorf("part copied %d bytes, announced %d", n, p.FromBytes)
		}
		fw.out = out
		return nil
	}
	switch {
	case p.From == nil && len(p.Bytes) < directWriteBytes:
		fw.reserve(len(p.Bytes)) // room was made, unless a flush dropped the buffer
		fw.out = append(fw.out, p.Bytes...)
		return nil
	case p.From == nil:
		if err := fw.flush(); err != nil {
			return err
		}
		fw.prepareWrite()
		n, err := fw.w.Write(p.Bytes)
		fw.sentBytes += n
		return err
	}
	if pb, ok := p.From.(PartBuffers); ok {
		if bufs, ok := pb.AppendBuffers(append(fw.iov[:0], fw.out)); ok {
			return fw.flushWith(bufs, p.FromBytes)
		}
	}
	if err := fw.flush(); err != nil {
		return err
	}
	fw.prepareWrite()
	n, err := p.From.WriteTo(fw.w)
	fw.sentBytes += int(n)
	if err != nil {
		return fmt.Errorf("write part: %w", err)
	}
	if n != p.FromBytes {
		// The frame size is already on the wire: the stream is broken.
		return fmt.Errorf("part wrote %d bytes, announced %d", n, p.FromBytes)
	}
	return nil
}

func (fw *frameWriter) prepareWrite() {
	if fw.beforeWrite != nil {
		fw.beforeWrite()
	}
}

// buffered is the number of bytes waiting for flush.
func (fw *frameWriter) buffered() int { return fw.pendingBytes + len(fw.out) }

// flushPending writes the pending bytes, if any, and releases them.
func (fw *frameWriter) flushPending() error {
	if fw.pending == nil {
		return nil
	}
	fw.prepareWrite()
	v := net.Buffers(fw.pending)
	n, err := v.WriteTo(fw.w)
	fw.sentBytes += int(n)
	fw.dropPending()
	if err != nil {
		return fmt.Errorf("write responses: %w", err)
	}
	return nil
}

// dropPending releases the pending bytes, written or not.
func (fw *frameWriter) dropPending() {
	if fw.pending == nil {
		return
	}
	clear(fw.pending)
	fw.pool.put(fw.pendingBuffer)
	done := fw.pendingDone
	fw.pending, fw.pendingBytes, fw.pendingBuffer, fw.pendingDone = nil, 0, nil, nil
	done()
}

// flush writes the pending bytes, then the buffer.
func (fw *frameWriter) flush() error {
	if err := fw.flushPending(); err != nil {
		fw.emptyOut()
		return err
	}
	if len(fw.out) == 0 {
		return nil
	}
	fw.prepareWrite()
	n, err := fw.w.Write(fw.out)
	fw.sentBytes += n
	fw.emptyOut()
	if err != nil {
		return fmt.Errorf("write responses: %w", err)
	}
	return nil
}

// emptyOut empties the buffer after a write, handing a large one back to
// the pool.
func (fw *frameWriter) emptyOut() {
	if cap(fw.out) > retainedBufferBytes {
		fw.pool.put(fw.out)
		fw.out = nil
	} else {
		fw.out = fw.out[:0]
	}
}

// flushWith writes the buffer and the part's memory after it (bufs: the
// buffer, then the part's fromBytes bytes) in one writev, then empties the
// buffer as flush does.
func (fw *frameWriter) flushWith(bufs [][]byte, fromBytes int64) error {
	want := int64(len(fw.out)) + fromBytes
	var got int64
	for _, b := range bufs {
		got += int64(len(b))
	}
	if got != want {
		// The frame size is already announced: the stream would break.
		return fmt.Errorf("part holds %d bytes in memory, announced %d", got-int64(len(fw.out)), fromBytes)
	}
	fw.prepareWrite()
	v := net.Buffers(bufs)
	n, err := v.WriteTo(fw.w)
	fw.sentBytes += int(n)
	clear(bufs) // the part's memory goes back with its response
	fw.iov = bufs[:0]
	fw.emptyOut()
	if err != nil {
		return fmt.Errorf("write part: %w", err)
	}
	if n != want {
		return fmt.Errorf("part wrote %d bytes, announced %d", n, want)
	}
	return nil
}

// reserve makes room for n more bytes in the buffer, taking one from the
// pool when there is none, and moving to a larger one (and releasing the
// old) when n does not fit.
func (fw *frameWriter) reserve(n int) {
	if fw.out == nil {
		fw.out = fw.pool.get(max(n, writerBufferBytes))[:0]
		return
	}
	if cap(fw.out)-len(fw.out) >= n {
		return
	}
	grown := fw.pool.get(max(len(fw.out)+n, 2*cap(fw.out)))[:len(fw.out)]
	copy(grown, fw.out)
	fw.pool.put(fw.out)
	fw.out = grown
}

// idle gives a large buffer back to the pool while nothing is waiting to be
// written; the writer keeps up to writerBufferBytes for its next response.
func (fw *frameWriter) idle() {
	if fw.pending == nil && len(fw.out) == 0 && cap(fw.out) > writerBufferBytes {
		fw.pool.put(fw.out)
		fw.out = nil
	}
}

// release gives the buffer back to the pool for good: the writer is done.
func (fw *frameWriter) release() {
	fw.dropPending()
	fw.pool.put(fw.out)
	fw.out = nil
}

// takeSentBytes returns the bytes written since the last call.
func (fw *frameWriter) takeSentBytes() int {
	n := fw.sentBytes
	fw.sentBytes = 0
	return n
}
