package netio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classes of bad input. Each closes the connection it came on.
var (
	// ErrFrameSize marks a frame size that is negative or above
	// socket.request.max.bytes.
	ErrFrameSize = errors.New("bad request frame size")
	// ErrMalformedHeader marks a request header that cannot be parsed.
	ErrMalformedHeader = errors.New("malformed request header")
	// ErrUnknownAPIKey marks a request for an API key the broker does not
	// serve (unknown to kmsg or absent from the served table).
	ErrUnknownAPIKey = errors.New("API key not served")
	// ErrUnsupportedVersion marks a request at a version the broker does
	// not serve (ApiVersions excepted: that is answered).
	ErrUnsupportedVersion = errors.New("unsupported API version")
	// ErrMalformedBody marks a request body kmsg cannot decode.
	ErrMalformedBody = errors.New("malformed request body")
)

// frameSizeBytes is the length of the size prefix of every frame.
const frameSizeBytes = 4

// frameChunkBytes is how much of a frame is allocated before its bytes
// arrive: a larger frame grows as it is read, so a client that announces
// socket.request.max.bytes and sends nothing costs little memory.
const frameChunkBytes = 1 << 20

// frameWholeBytes is the largest frame allocated whole at once: a produce of
// one 1 MiB batch (franz-go's and the Java client's default batch limit) plus
// its headers, which would otherwise be read into 1 MiB, then copied into a
// second buffer for its last few hundred bytes.
const frameWholeBytes = frameChunkBytes + frameChunkBytes/4

// directReadBytes: when at least this much of a frame is still to come
// after what the buffered reader holds, it is read from the connection
// straight into the frame, not through the buffered reader and a copy.
// Smaller remainders go through the buffered reader, which may read the
// next pipelined requests with the same system call.
const directReadBytes = readBufferBytes / 2

// frameReader reads size-prefixed frames. A small frame comes through the
// buffered reader, which serves many pipelined requests from one system
// call; the bulk of a large frame goes from the connection straight into the
// frame's buffer, so the kernel's copy is the only one. Frame buffers come
// from pool (nil: a fresh allocation each); the caller releases them.
type frameReader struct {
	br       *bufio.Reader
	raw      io.Reader // what br reads from
	pool     *bufferPool
	maxBytes int32
}

// next reads one frame and returns it without the size prefix. io.EOF means
// the stream ended cleanly between frames.
func (fr *frameReader) next() ([]byte, error) {
	size, err := fr.readSize()
	if err != nil {
		return nil, err
	}
	if size < 0 || size > fr.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameSize, size, fr.maxBytes)
	}
	frame, err := fr.readBody(int(size))
	if err != nil {
		return nil, fmt.Errorf("read %d-byte frame: %w", size, noEOF(err))
	}
	return frame, nil
}

// readSize reads the size prefix.
func (fr *frameReader) readSize() (int32, error) {
	// Peek and Discard read the prefix without a buffer of its own.
	p, err := fr.br.Peek(frameSizeBytes)
	if err != nil {
		if len(p) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	size := int32(binary.BigEndian.Uint32(p))
	_, _ = fr.br.Discard(frameSizeBytes)
	return size, nil
}

// readBody reads a size-byte frame. A frame up to frameWholeBytes, or one
// the pool has a free buffer for, is read into its final buffer at once; a
// larger one grows as its bytes arrive, so that a client announcing
// socket.request.max.bytes and sending nothing costs little memory. The
// buffer is released to the pool on error.
func (fr *frameReader) readBody(size int) ([]byte, error) {
	var frame []byte
	if size <= frameWholeBytes {
		frame = fr.pool.get(size)
	} else {
		frame = fr.pool.tryGet(size)
	}
	if frame != nil {
		if err := fr.readFull(frame); err != nil {
			fr.pool.put(frame)
			return nil, err
		}
		return frame, nil
	}
	frame = fr.pool.get(frameChunkBytes)[:0]
	for len(frame) < size {
		if len(frame) == cap(frame) {
			grown := fr.pool.get(min(2*cap(frame), size))[:len(frame)]
			copy(grown, frame)
			fr.pool.put(frame)
			frame = grown
		}
		// A pooled buffer may be larger than the frame: never read past it.
		end := min(cap(frame), size)
		if err := fr.readFull(frame[len(frame):end]); err != nil {
			fr.pool.put(frame)
			return nil, err
		}
		frame = frame[:end]
	}
	return frame, nil
}

// readFull fills dst: first with what the buffered reader holds, then, for a
// large remainder, straight from the connection.
func (fr *frameReader) readFull(dst []byte) error {
	n := 0
	if fr.br.Buffered() > 0 {
		n, _ = fr.br.Read(dst) // a copy of buffered bytes, no system call
	}
	rest := dst[n:]
	switch {
	case len(rest) == 0:
		return nil
	case len(rest) < directReadBytes:
		_, err := io.ReadFull(fr.br, rest)
		return err
	}
	_, err := io.ReadFull(fr.raw, rest)
	return err
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodedRequest is a parsed frame. body is nil for an ApiVersions request at
// a version outside the served range, which is answered with
// UNSUPPORTED_VERSION and not decoded further (KIP-511).
type decodedRequest struct {
	header RequestHeader
	body   kmsg.Request
}

// unsupportedAPIVersions reports the KIP-511 case of decodedRequest.
func (d *decodedRequest) unsupportedAPIVersions() bool {
	return d.body == nil && d.header.APIKey == apiVersionsKey
}

// decodeRequestAfter parses a frame (size prefix excluded): the request
// header v0–v2 and the body at the header's version, checked against the
// served versions. On error the header holds what was parsed, for the log
// line. lastClientID is the client id of the connection's previous request
// ("" for none): the same client id is not allocated again.
func decodeRequestAfter(frame []byte, versions *versionTable, lastClientID string) (decodedRequest, error) {
	var d decodedRequest
	r := kbin.Reader{Src: frame}
	d.header.APIKey = r.Int16()
	d.header.APIVersion = r.Int16()
	d.header.CorrelationID = r.Int32()
	// ControlledShutdown v0 is the one request with header v0: no client id.
	if !(d.header.APIKey == 7 && d.header.APIVersion == 0) {
		d.header.ClientID = readClientID(&r, lastClientID)
	}
	if !r.Ok() {
		return d, fmt.Errorf("%w: %d-byte frame", ErrMalformedHeader, len(frame))
	}
	key, version := d.header.APIKey, d.header.APIVersion
	served, ok := versions.lookup(key)
	body := versions.newRequest(key)
	if !ok || body == nil {
		return d, fmt.Errorf("%w: %d (%s)", ErrUnknownAPIKey, key, kmsg.NameForKey(key))
	}
	if version < served.minVersion || version > served.maxVersion {
		if key == apiVersionsKey {
			return d, nil
		}
		return d, fmt.Errorf("%w: %s v%d, served v%d..v%d",
			ErrUnsupportedVersion, versions.apiName(key), version, served.minVersion, served.maxVersion)
	}
	body.SetVersion(version)
	if body.IsFlexible() {
		skipTags(&r)
		if !r.Ok() {
			return d, fmt.Errorf("%w: bad tagged fields", ErrMalformedHeader)
		}
	}
	if err := body.ReadFrom(r.Src); err != nil {
		return d, fmt.Errorf("%w: %s v%d: %w", ErrMalformedBody, versions.apiName(key), version, err)
	}
	d.body = body
	return d, nil
}

// readClientID reads the header's nullable client id ("" when null), reusing
// last when the bytes are the same: clients send one id on every request.
func readClientID(r *kbin.Reader, last string) string {
	n := r.Int16()
	if n < 0 {
		return ""
	}
	b := r.Span(int(n))
	if string(b) == last { // compared without allocating
		return last
	}
	return string(b)
}

// skipTags skips the header's tagged fields. It is kmsg.SkipTags on the
// concrete reader: through SkipTags' interface the reader would escape to
// the heap, one allocation per request.
func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint() // the tag
		r.Span(int(r.Uvarint()))
	}
}
