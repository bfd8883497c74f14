package netio

import (
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

// readFrame reads one size-prefixed frame and returns it without the prefix.
// io.EOF means the stream ended cleanly between frames.
func readFrame(r io.Reader, maxBytes int32) ([]byte, error) {
	var sizeBuf [frameSizeBytes]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 0 || size > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameSize, size, maxBytes)
	}
	frame, err := readFrameBody(r, int(size))
	if err != nil {
		return nil, fmt.Errorf("read %d-byte frame: %w", size, noEOF(err))
	}
	return frame, nil
}

// readFrameBody reads size bytes, allocating at most frameWholeBytes ahead of
// the bytes received.
func readFrameBody(r io.Reader, size int) ([]byte, error) {
	if size <= frameWholeBytes {
		frame := make([]byte, size)
		_, err := io.ReadFull(r, frame)
		return frame, err
	}
	frame := make([]byte, 0, frameChunkBytes)
	for len(frame) < size {
		if len(frame) == cap(frame) {
			grown := make([]byte, len(frame), min(2*cap(frame), size))
			copy(grown, frame)
			frame = grown
		}
		n, err := io.ReadFull(r, frame[len(frame):cap(frame)])
		frame = frame[:len(frame)+n]
		if err != nil {
			return nil, err
		}
	}
	return frame, nil
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

// decodeRequest parses a frame (size prefix excluded): the request header
// v0–v2 and the body at the header's version, checked against the served
// versions. On error the header holds what was parsed, for the log line.
func decodeRequest(frame []byte, versions *versionTable) (decodedRequest, error) {
	var d decodedRequest
	r := kbin.Reader{Src: frame}
	d.header.APIKey = r.Int16()
	d.header.APIVersion = r.Int16()
	d.header.CorrelationID = r.Int32()
	// ControlledShutdown v0 is the one request with header v0: no client id.
	if !(d.header.APIKey == 7 && d.header.APIVersion == 0) {
		if clientID := r.NullableString(); clientID != nil {
			d.header.ClientID = *clientID
		}
	}
	if !r.Ok() {
		return d, fmt.Errorf("%w: %d-byte frame", ErrMalformedHeader, len(frame))
	}
	key, version := d.header.APIKey, d.header.APIVersion
	served, ok := versions.lookup(key)
	body := kmsg.RequestForKey(key)
	if !ok || body == nil {
		return d, fmt.Errorf("%w: %d (%s)", ErrUnknownAPIKey, key, kmsg.NameForKey(key))
	}
	if version < served.minVersion || version > served.maxVersion {
		if key == apiVersionsKey {
			return d, nil
		}
		return d, fmt.Errorf("%w: %s v%d, served v%d..v%d",
			ErrUnsupportedVersion, kmsg.NameForKey(key), version, served.minVersion, served.maxVersion)
	}
	body.SetVersion(version)
	if body.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return d, fmt.Errorf("%w: bad tagged fields", ErrMalformedHeader)
		}
	}
	if err := body.ReadFrom(r.Src); err != nil {
		return d, fmt.Errorf("%w: %s v%d: %w", ErrMalformedBody, kmsg.NameForKey(key), version, err)
	}
	d.body = body
	return d, nil
}
