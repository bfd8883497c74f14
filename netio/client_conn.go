package netio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Sizes of a client connection's buffers.
const (
	// clientWriteBatchBytes: the writer writes once its buffer holds this
	// much, even if more requests wait.
	clientWriteBatchBytes = 256 << 10
	// clientKeptWriteBytes: a write buffer grown beyond this by a large
	// request is dropped after the write.
	clientKeptWriteBytes = 1 << 20
)

// clientConn is one connection of a Client: the run loop writes requests to
// it, a reader goroutine reads the responses, in request order (Kafka's
// guarantee), and matches each to the oldest request on the wire.
type clientConn struct {
	c  *Client
	nc net.Conn
	// raw is nc's socket, for inline writes (nil: none).
	raw    *rawWriter
	frames frameReader
	// peer is the peer's ApiVersions table, by key.
	peer map[int16]APIVersionRange
	// slots holds one token per request on the wire.
	slots chan struct{}
	// dead is closed by fail.
	dead     chan struct{}
	failOnce sync.Once
	err      error // why it failed; read after dead is closed

	// The writing: the writer goroutine's, or an inline writer's while
	// owner is ownerInline (client_inline.go). wbuf holds the frames not
	// yet written, corr the last correlation id given (0 was ApiVersions),
	// unanswered the acks=0 requests in wbuf.
	wbuf       []byte
	corr       int32
	unanswered []*call
	// owner, writerGone are guarded by Client.mu; inlineDone tells a
	// writer goroutine that ended while an inline write ran that it
	// finished.
	owner      writerOwner
	writerGone bool
	inlineDone chan struct{}

	mu sync.Mutex
	// onWire are the requests written (or being written) whose response
	// has not been read, oldest first.
	onWire []*call
}

// run is the client's one long-lived goroutine: it dials when a request
// waits, writes requests while connected and reconnects after a back-off.
func (c *Client) run() {
	defer close(c.done)
	failures := 0 // connection attempts failed in a row
	var retryAt time.Time
	for {
		if !c.waitForWork() {
			break
		}
		if wait := time.Until(retryAt); wait > 0 && !c.sleep(wait) {
			break
		}
		cc, err := c.connect()
		if err != nil {
			if c.ctx.Err() != nil {
				break
			}
			failures++
			retryAt = time.Now().Add(c.backoff(failures))
			err = fmt.Errorf("%w: %s: %w", ErrConnectionFailed, c.cfg.Address, err)
			if failures == 1 {
				c.log.Warn("cannot connect to peer", zap.Error(err))
			} else {
				c.log.Debug("cannot connect to peer", zap.Int("attempt", failures), zap.Error(err))
			}
			c.failQueued(err)
			continue
		}
		failures = 1 // after a connection ends, wait the base back-off once
		c.serveConn(cc)
		retryAt = time.Now().Add(c.backoff(failures))
	}
	c.failQueued(fmt.Errorf("%w: %s", ErrClientClosed, c.cfg.Address))
}

// waitForWork waits until a request is queued; false when the client closes.
func (c *Client) waitForWork() bool {
	for !c.hasQueued() {
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			return false
		}
	}
	return c.ctx.Err() == nil
}

// sleep waits d; false when the client closes first.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// backoff is the wait before the next dial after failures failed attempts:
// reconnect.backoff.ms doubling per failure up to reconnect.backoff.max.ms,
// with ±20% jitter so that peers do not reconnect in step.
func (c *Client) backoff(failures int) time.Duration {
	ms := float64(c.cfg.ReconnectBackoffMs)
	for i := 1; i < failures && ms < float64(c.cfg.ReconnectBackoffMaxMs); i++ {
		ms *= 2
	}
	ms = min(ms, float64(c.cfg.ReconnectBackoffMaxMs))
	ms *= 0.8 + 0.4*rand.Float64()
	return time.Duration(ms * float64(time.Millisecond))
}

// connect dials the peer and asks for its ApiVersions, within
// ConnectTimeoutMs. The connection is the client's current one from the
// dial on, so that Close can interrupt the exchange.
func (c *Client) connect() (*clientConn, error) {
	timeout := time.Duration(c.cfg.ConnectTimeoutMs) * time.Millisecond
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	nc, err := c.cfg.Dial(ctx, "tcp", c.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cc := &clientConn{
		c:          c,
		nc:         nc,
		slots:      make(chan struct{}, max(c.cfg.MaxInFlightRequests, 1)),
		dead:       make(chan struct{}),
		inlineDone: make(chan struct{}, 1),
	}
	var src io.Reader = nc
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			src = newRawReader(raw)
			if !c.cfg.noInlineWrites {
				cc.raw = newRawWriter(raw)
			}
		}
	}
	cc.frames = frameReader{br: bufio.NewReaderSize(src, readBufferBytes), raw: src, pool: c.pool, maxBytes: c.cfg.ResponseMaxBytes}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = nc.Close()
		return nil, ErrClientClosed
	}
	c.conn = cc
	c.mu.Unlock()
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	peer, err := cc.askAPIVersions()
	_ = nc.SetDeadline(time.Time{})
	if err != nil {
		cc.fail(err)
		c.forgetConn(cc)
		return nil, fmt.Errorf("ApiVersions: %w", err)
	}
	cc.peer = peer
	c.log.Debug("connected to peer", zap.Int("api_keys", len(peer)))
	return cc, nil
}

// forgetConn unsets the current connection.
func (c *Client) forgetConn(cc *clientConn) {
	c.mu.Lock()
	if c.conn == cc {
		c.conn = nil
	}
	c.mu.Unlock()
}

// serveConn runs a connection to its end: responses are read on a goroutine
// of their own, requests are written here. Then every request on the wire
// fails.
func (c *Client) serveConn(cc *clientConn) {
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		cc.readLoop()
	}()
	cc.writeLoop()
	cc.fail(errors.New("writer stopped"))
	<-readerDone
	c.forgetConn(cc)
	cause := cc.err
	err := fmt.Errorf("%w: %s: %w", ErrConnectionFailed, c.cfg.Address, cause)
	if c.ctx.Err() != nil {
		err = fmt.Errorf("%w: %s", ErrClientClosed, c.cfg.Address)
	}
	cc.mu.Lock()
	onWire := cc.onWire
	cc.onWire = nil
	cc.mu.Unlock()
	switch {
	case c.ctx.Err() != nil:
		// Its owner closed the client (a replica fetcher giving up a
		// parked Fetch does so): nothing an operator needs to see.
		c.log.Debug("connection to peer closed", zap.Int("requests_failed", len(onWire)))
	case len(onWire) > 0 || !errors.Is(cause, io.EOF):
		c.log.Info("connection to peer ended", zap.Int("requests_failed", len(onWire)), zap.NamedError("cause", cause))
	}
	for _, cl := range onWire {
		c.complete(cl, nil, err)
	}
}

// fail closes the connection once, recording why.
func (cc *clientConn) fail(err error) {
	cc.failOnce.Do(func() {
		cc.err = err
		close(cc.dead)
		_ = cc.nc.Close()
	})
}

// askAPIVersions exchanges ApiVersions: at the highest version netio knows,
// then, if the peer answers UNSUPPORTED_VERSION (KIP-511), once more at the
// peer's highest.
func (cc *clientConn) askAPIVersions() (map[int16]APIVersionRange, error) {
	version := int16(apiVersionsMaxWithoutIdentity)
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName = cc.c.cfg.SoftwareName
		req.ClientSoftwareVersion = cc.c.cfg.SoftwareVersion
		const corr = 0 // the first request of the connection
		if _, err := cc.nc.Write(appendRequestFrame(nil, req, corr, cc.c.clientID)); err != nil {
			return nil, err
		}
		frame, err := cc.readFrame()
		if err != nil {
			return nil, err
		}
		body, gotCorr, err := splitResponseFrame(frame)
		if err != nil || gotCorr != corr {
			return nil, fmt.Errorf("%w: ApiVersions answered with correlation id %d (%v)", ErrMalformedResponse, gotCorr, err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = version
		if len(body) >= 2 && int16(binary.BigEndian.Uint16(body)) == kerrUnsupportedVersion {
			resp.Version = 0 // the answer to a version the peer does not serve is in v0
		}
		err = resp.ReadFrom(body)
		cc.frames.pool.put(frame)
		if err != nil {
			return nil, fmt.Errorf("%w: ApiVersions v%d: %w", ErrMalformedResponse, resp.Version, err)
		}
		if resp.ErrorCode == kerrUnsupportedVersion && attempt == 0 {
			for _, k := range resp.ApiKeys {
				if k.ApiKey == apiVersionsKey && k.MaxVersion < version {
					version = k.MaxVersion
				}
			}
			if version < apiVersionsMaxWithoutIdentity {
				continue
			}
		}
		if resp.ErrorCode != 0 {
			return nil, fmt.Errorf("ApiVersions v%d: error code %d", req.Version, resp.ErrorCode)
		}
		peer := make(map[int16]APIVersionRange, len(resp.ApiKeys))
		for _, k := range resp.ApiKeys {
			peer[k.ApiKey] = APIVersionRange{APIKey: k.ApiKey, MinVersion: k.MinVersion, MaxVersion: k.MaxVersion}
		}
		return peer, nil
	}
}

// kerrUnsupportedVersion is UNSUPPORTED_VERSION's code.
const kerrUnsupportedVersion = 35

// versionFor is the version to send req at on this connection: the highest
// both the peer and the client serve.
func (cc *clientConn) versionFor(req kmsg.Request) (int16, error) {
	key := req.Key()
	peer, ok := cc.peer[key]
	if !ok {
		return 0, fmt.Errorf("%w: %s is not in the ApiVersions of %s", ErrNotServedByPeer, cc.c.apiName(req), cc.c.cfg.Address)
	}
	ourMin, ourMax := int16(0), req.MaxVersion()
	if r, ok := cc.c.versionCaps[key]; ok {
		ourMin, ourMax = r.MinVersion, min(r.MaxVersion, ourMax)
	}
	v := min(ourMax, peer.MaxVersion)
	if v < ourMin || v < peer.MinVersion {
		return 0, fmt.Errorf("%w: %s: we send v%d..v%d, %s serves v%d..v%d", ErrNotServedByPeer,
			cc.c.apiName(req), ourMin, ourMax, cc.c.cfg.Address, peer.MinVersion, peer.MaxVersion)
	}
	return v, nil
}

// writeLoop writes queued requests until the connection fails or the client
// closes. It batches the requests that wait into one write. While no request
// waits it gives up the connection's writing (client_inline.go): a Send
// then writes its request itself.
func (cc *clientConn) writeLoop() {
	defer cc.writerExits()
	for {
		if !cc.waitForRequest() {
			return
		}
		if stop := cc.appendBatch(true); stop {
			cc.completeUnanswered(errors.New("connection closed before the write"))
			return
		}
		if len(cc.wbuf) == 0 {
			continue
		}
		_, err := cc.nc.Write(cc.wbuf)
		cc.wbuf = cc.wbuf[:0]
		if cap(cc.wbuf) > clientKeptWriteBytes {
			cc.wbuf = nil
		}
		if err != nil {
			err = fmt.Errorf("write: %w", err)
			cc.completeUnanswered(err)
			cc.fail(err)
			return
		}
		cc.completeUnanswered(nil)
	}
}

// appendBatch appends the frames of queued requests to wbuf (after what it
// holds) up to clientWriteBatchBytes, each with a slot on the wire. Only
// the writer goroutine (writer) blocks, for a first slot, and takes
// requests that complete at once (a version the peer does not serve, an
// acks=0 Produce): an inline writer is inside Send, which never calls back.
// stop: the connection failed or the client closed meanwhile.
func (cc *clientConn) appendBatch(writer bool) (stop bool) {
	c := cc.c
	for len(cc.wbuf) < clientWriteBatchBytes {
		got, stop := cc.acquireSlot(writer && len(cc.wbuf) == 0)
		if stop {
			return true
		}
		if !got {
			break // write what we have; the reader frees slots
		}
		cl := c.takeQueued(cc, writer)
		if cl == nil {
			<-cc.slots
			break
		}
		version, err := cc.versionFor(cl.req)
		if err != nil {
			<-cc.slots
			c.complete(cl, nil, err)
			continue
		}
		cc.corr++
		cl.corr, cl.version = cc.corr, version
		cl.req.SetVersion(version)
		cc.wbuf = appendRequestFrame(cc.wbuf, cl.req, cc.corr, c.clientID)
		if cl.noResponse {
			cc.unanswered = append(cc.unanswered, cl)
		} else {
			cc.push(cl)
		}
	}
	return false
}

// acquireSlot takes a slot for one more request on the wire. It waits for
// one only when block is set. stop: the connection failed or the client
// closed.
func (cc *clientConn) acquireSlot(block bool) (got, stop bool) {
	select {
	case cc.slots <- struct{}{}:
		return true, false
	default:
	}
	if !block {
		return false, false
	}
	select {
	case cc.slots <- struct{}{}:
		return true, false
	case <-cc.dead:
		return false, true
	case <-cc.c.ctx.Done():
		return false, true
	}
}

// completeUnanswered completes the acks=0 requests of the batch just
// written, which have no response: with nil once written, or with the
// connection's failure. Each frees its slot.
func (cc *clientConn) completeUnanswered(cause error) {
	var err error
	if cause != nil {
		err = fmt.Errorf("%w: %s: %w", ErrConnectionFailed, cc.c.cfg.Address, cause)
	}
	calls := cc.unanswered
	cc.unanswered = cc.unanswered[:0]
	for _, cl := range calls {
		<-cc.slots
		cc.c.complete(cl, nil, err)
	}
}

// waitForRequest waits until a request is queued, or bytes an inline write
// left, and the writer goroutine owns the writing; false when the
// connection failed or the client closed.
func (cc *clientConn) waitForRequest() bool {
	for !cc.parkWriter() {
		select {
		case <-cc.c.wake:
		case <-cc.dead:
			return false
		case <-cc.c.ctx.Done():
			return false
		}
	}
	select {
	case <-cc.dead:
		return false
	default:
		return true
	}
}

// push appends a call about to be written to the requests on the wire.
func (cc *clientConn) push(cl *call) {
	cc.mu.Lock()
	cc.onWire = append(cc.onWire, cl)
	cc.mu.Unlock()
}

// pop removes the oldest request on the wire, nil when none.
func (cc *clientConn) pop() *call {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.onWire) == 0 {
		return nil
	}
	cl := cc.onWire[0]
	cc.onWire[0] = nil
	cc.onWire = cc.onWire[1:]
	if len(cc.onWire) == 0 {
		cc.onWire = nil
	}
	return cl
}

// readLoop reads responses until the connection fails, completing each
// request with its response.
func (cc *clientConn) readLoop() {
	for {
		frame, err := cc.readFrame()
		if err != nil {
			cc.fail(fmt.Errorf("read: %w", err))
			return
		}
		body, corr, err := splitResponseFrame(frame)
		cl := cc.pop()
		if err != nil || cl == nil || cl.corr != corr {
			cc.frames.pool.put(frame)
			if cl != nil {
				cc.push(cl) // failed with the others
			}
			cc.fail(fmt.Errorf("%w: response with correlation id %d, expected %v (%v)", ErrMalformedResponse, corr, expectedCorr(cl), err))
			return
		}
		<-cc.slots
		resp, err := cc.decode(cl, frame, body)
		if err != nil {
			cc.c.complete(cl, nil, err)
			continue
		}
		cc.c.complete(cl, resp, nil)
	}
}

// expectedCorr is the correlation id a response should carry, for errors.
func expectedCorr(cl *call) any {
	if cl == nil {
		return "none"
	}
	return cl.corr
}

// readFrame reads one response frame whole into one buffer: the peer is
// trusted to send what it announced, so a large fetch response is read
// straight into its final buffer, with no growing and copying.
func (cc *clientConn) readFrame() ([]byte, error) {
	size, err := cc.frames.readSize()
	if err != nil {
		return nil, err
	}
	if size < 4 || size > cc.frames.maxBytes {
		return nil, fmt.Errorf("%w: response of %d bytes, limit %d", ErrFrameSize, size, cc.frames.maxBytes)
	}
	frame := cc.frames.pool.get(int(size))
	if err := cc.frames.readFull(frame); err != nil {
		cc.frames.pool.put(frame)
		return nil, noEOF(err)
	}
	return frame, nil
}

// appendRequestFrame appends the frame of a request: size, header v1 or v2
// (v0 for ControlledShutdown v0, which has no client id), body. Unlike
// kmsg's RequestFormatter it appends to a buffer that already holds frames.
func appendRequestFrame(dst []byte, req kmsg.Request, corr int32, clientID *string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	key, version := req.Key(), req.GetVersion()
	dst = kbin.AppendInt16(dst, key)
	dst = kbin.AppendInt16(dst, version)
	dst = kbin.AppendInt32(dst, corr)
	if key != 7 || version != 0 {
		dst = kbin.AppendNullableString(dst, clientID)
		if req.IsFlexible() {
			dst = append(dst, 0) // no tagged fields in the header
		}
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameSizeBytes))
	return dst
}

// splitResponseFrame returns the correlation id of a response frame and the
// rest: the header's tagged fields (when flexible) and the body.
func splitResponseFrame(frame []byte) ([]byte, int32, error) {
	if len(frame) < 4 {
		return nil, 0, errors.New("short response frame")
	}
	return frame[4:], int32(binary.BigEndian.Uint32(frame)), nil
}

// decode decodes the response of cl from body, part of frame. The Response
// owns the frame.
func (cc *clientConn) decode(cl *call, frame, body []byte) (*Response, error) {
	resp := cl.req.ResponseKind()
	resp.SetVersion(cl.version)
	if responseHeaderHasTags(resp) {
		r := kbin.Reader{Src: body}
		skipTags(&r)
		if !r.Ok() {
			cc.frames.pool.put(frame)
			return nil, fmt.Errorf("%w: %s v%d: bad header tags", ErrMalformedResponse, cc.c.apiName(cl.req), cl.version)
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		cc.frames.pool.put(frame)
		return nil, fmt.Errorf("%w: %s v%d: %w", ErrMalformedResponse, cc.c.apiName(cl.req), cl.version, err)
	}
	r := &Response{Body: resp}
	if cc.frames.pool != nil {
		r.frame = &frameRef{pool: cc.frames.pool, buf: frame}
		r.frame.refs.Store(1)
	}
	return r, nil
}
