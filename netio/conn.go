package netio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// readBufferBytes is the size of a connection's read buffer: many small
// pipelined requests are read with one system call.
const readBufferBytes = 64 << 10

// conn serves one connection: a reader goroutine (serve) decodes requests and
// hands them to the Handler, a writer goroutine writes the answers in request
// order. Between them is a ring of response slots, one per request in flight,
// bounded by Config.MaxInFlightRequests.
type conn struct {
	srv      *Server
	netConn  net.Conn
	info     *ConnInfo
	log      *zap.Logger
	openedAt time.Time
	ctx      context.Context
	cancel   context.CancelFunc
	// frames reads the request frames through a buffered reader; they
	// come from the server's pool when requests are pooled.
	frames frameReader

	// slots holds one token per request in flight: the reader puts one
	// before reading a request, the writer takes one per response taken.
	slots chan struct{}
	// wake tells the writer that the head slot was answered or that
	// reading stopped.
	wake chan struct{}
	// drain is closed by Shutdown: stop reading, finish what is in flight.
	drain     chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once
	// lastActivityNs is when a byte was last read or written, in
	// nanoseconds since openedAt.
	lastActivityNs atomic.Int64
	// clientID is the last client id seen, for log lines; reader only.
	clientID string

	// fw encodes and writes the answers: the writer goroutine's, except
	// while owner is ownerInline (writer_inline.go).
	fw frameWriter
	// raw is the socket, for the inline writes' non-blocking attempts;
	// nil when the connection has none (inline writes are off).
	raw *rawWriter
	// rawRead reads the socket for the reader, with raw system calls
	// (rawio.go); nil when it is not a socket.
	rawRead *rawReader

	mu         sync.Mutex
	owner      writerOwner
	ring       []responseSlot
	head       int
	count      int
	nextSeq    uint64
	readerDone bool
	closed     bool
	// writerGone: the writer goroutine ended.
	writerGone bool
}

// responseSlot is a request in flight, waiting for its answer or for its turn
// to be written.
type responseSlot struct {
	seq        uint64 // 0 when free
	corr       int32
	apiKey     int16
	apiVersion int16
	receivedAt time.Time
	answered   bool
	resp       kmsg.Response // nil when answered means: send nothing
	// frame is the request's pooled frame, referenced until resp is
	// written or dropped (a response may alias its request); nil when not
	// pooled.
	frame *frameRef
	// parts are resp's body where it lies in memory, set when the
	// goroutine that answered may write it inline with one writev
	// (memoryParts): its size prefix and header go before them.
	parts [][]byte
}

func newConn(s *Server, nc net.Conn, id uint64) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:     s,
		netConn: nc,
		info: &ConnInfo{
			ID:           id,
			RemoteAddr:   nc.RemoteAddr(),
			LocalAddr:    nc.LocalAddr(),
			ListenerName: s.cfg.ListenerName,
			Principal:    AnonymousPrincipal,
			closed:       ctx,
		},
		openedAt: time.Now(),
		ctx:      ctx,
		cancel:   cancel,
		slots:    make(chan struct{}, s.cfg.MaxInFlightRequests),
		wake:     make(chan struct{}, 1),
		drain:    make(chan struct{}),
		ring:     make([]responseSlot, s.cfg.MaxInFlightRequests),
		owner:    ownerNone, // the writer goroutine starts waiting
	}
	c.fw = frameWriter{w: nc, pool: s.pool, beforeWrite: c.armWriteDeadline}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.rawRead = newRawReader(raw)
			if !s.cfg.noInlineWrites {
				c.raw = newRawWriter(raw)
			}
		}
	}
	c.log = s.log.With(zap.Uint64("connection_id", id), zap.Stringer("remote_addr", nc.RemoteAddr()),
		zap.String("listener", s.cfg.ListenerName))
	raw := &idleAwareReader{c: c}
	c.frames = frameReader{br: bufio.NewReaderSize(raw, readBufferBytes), raw: raw, maxBytes: s.cfg.RequestMaxBytes}
	if s.cfg.PoolRequestBuffers {
		c.frames.pool = s.pool
	}
	return c
}

// serve runs the connection to its end and closes it.
func (c *conn) serve() {
	c.log.Debug("connection opened")
	if idle := c.srv.cfg.idleTimeout(); idle > 0 {
		_ = c.netConn.SetReadDeadline(time.Now().Add(idle))
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		if err := c.writeLoop(); err != nil {
			c.log.Debug("closing connection: write failed", zap.Error(err))
		}
		c.close()
	}()
	err := c.readLoop()
	if errors.Is(err, errDraining) {
		c.stopReading()
	} else {
		c.logReadEnd(err)
		c.close()
	}
	<-writerDone
	c.close()
}

// Reasons the reader stops that are not failures.
var (
	errDraining = errors.New("server shutting down")
	errIdle     = errors.New("connection idle")
	errClosed   = errors.New("connection closed")
)

// readLoop reads, decodes and dispatches requests until an error.
func (c *conn) readLoop() error {
	for {
		select {
		case c.slots <- struct{}{}:
		case <-c.drain:
			return errDraining
		case <-c.ctx.Done():
			return errClosed
		}
		frame, err := c.frames.next()
		if err != nil {
			return err
		}
		receivedAt := time.Now()
		if c.srv.observer != nil {
			c.srv.observer.BytesReceived(len(frame) + frameSizeBytes)
		}
		d, err := decodeRequestAfter(frame, c.srv.versions, c.clientID)
		if err != nil {
			c.frames.pool.put(frame)
			return &badRequestError{header: d.header, err: err}
		}
		c.clientID = d.header.ClientID
		if err := c.dispatch(&d, frame, receivedAt); err != nil {
			return err
		}
	}
}

// badRequestError is a request that closes the connection, with its header
// for the log line.
type badRequestError struct {
	header RequestHeader
	err    error
}

func (e *badRequestError) Error() string { return e.err.Error() }
func (e *badRequestError) Unwrap() error { return e.err }

// inflight is a request handed to the Handler: the Request, what its
// respond function needs, and the references to its frame when pooled. One
// allocation holds all three.
type inflight struct {
	req Request
	c   *conn
	idx int
	seq uint64
	// The header as read, whatever the handler does to req.
	apiKey, apiVersion int16
	corr               int32
	frame              frameRef
	responded          atomic.Bool
}

// dispatch gives a decoded request a response slot and hands it to the
// Handler, or answers it here (ApiVersions). frame is what the request was
// decoded from; when pooled, it goes back to the pool once the request is
// done with it.
func (c *conn) dispatch(d *decodedRequest, frame []byte, receivedAt time.Time) (err error) {
	idx, seq := c.pushSlot(&d.header, receivedAt)
	if d.header.APIKey == apiVersionsKey {
		resp := answerAPIVersions(d, c.srv.versions, c.srv.identity)
		addFeatures(resp, c.srv.cfg.Features)
		// The answer holds nothing of the frame.
		c.frames.pool.put(frame)
		c.answer(idx, seq, d.header.CorrelationID, resp, nil)
		return nil
	}
	f := &inflight{
		req: Request{
			Header:     d.header,
			Body:       d.body,
			Conn:       c.info,
			FrameBytes: len(frame),
			ReceivedAt: receivedAt,
			ctx:        c.ctx,
			pool:       c.srv.pool,
		},
		c:          c,
		idx:        idx,
		seq:        seq,
		apiKey:     d.header.APIKey,
		apiVersion: d.header.APIVersion,
		corr:       d.header.CorrelationID,
	}
	if c.frames.pool != nil {
		f.frame.pool, f.frame.buf = c.frames.pool, frame
		f.frame.refs.Store(2) // Handle until it returns, and respond
		f.req.frame = &f.frame
	}
	defer func() {
		f.req.frame.release() // Handle's reference
		if p := recover(); p != nil {
			c.log.Error("handler panicked", zap.String("client_id", d.header.ClientID),
				zap.Int16("api_key", d.header.APIKey), zap.Any("panic", p), zap.StackSkip("stack", 1))
			err = fmt.Errorf("handler panicked on %s: %v", kmsg.NameForKey(d.header.APIKey), p)
		}
	}()
	c.srv.handler.Handle(&f.req, f.respond)
	return nil
}

// respond is the respond function of a request: it stores the answer in the
// request's slot, which takes over respond's reference to the frame until
// the answer is written.
func (f *inflight) respond(resp kmsg.Response) {
	if resp != nil {
		checkResponseKind(resp, f.apiKey, f.corr)
		resp.SetVersion(f.apiVersion)
	}
	if f.responded.Swap(true) {
		if f.c.isClosed() {
			f.c.releaseResponse(resp)
			return // harmless after close, as before pooling
		}
		panic(fmt.Sprintf("netio: respond called twice for correlation id %d", f.corr))
	}
	f.c.answer(f.idx, f.seq, f.corr, resp, f.req.frame)
}

// pushSlot appends a slot for the request and returns its index and
// sequence number. The caller holds a token of c.slots, so the ring has room.
func (c *conn) pushSlot(h *RequestHeader, receivedAt time.Time) (int, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count == len(c.ring) {
		panic("netio: response ring full although a slot token was taken")
	}
	idx := (c.head + c.count) % len(c.ring)
	c.nextSeq++
	seq := c.nextSeq
	c.ring[idx] = responseSlot{seq: seq, corr: h.CorrelationID, apiKey: h.APIKey, apiVersion: h.APIVersion, receivedAt: receivedAt}
	c.count++
	return idx, seq
}

// checkResponseKind panics when a handler answers with the wrong type: that
// response could not be read by the client.
func checkResponseKind(resp kmsg.Response, apiKey int16, corr int32) {
	if enc, ok := resp.(*EncodedResponse); ok && enc.Response == nil {
		panic(fmt.Sprintf("netio: EncodedResponse without a response kind for %s correlation id %d", kmsg.NameForKey(apiKey), corr))
	}
	if resp.Key() != apiKey {
		panic(fmt.Sprintf("netio: %s response to a %s request (correlation id %d)",
			kmsg.NameForKey(resp.Key()), kmsg.NameForKey(apiKey), corr))
	}
}

// answer stores the answer of slot idx, with the reference to its frame,
// and wakes the writer if it waits on it.
func (c *conn) answer(idx int, seq uint64, corr int32, resp kmsg.Response, frame *frameRef) {
	// A body whose bytes are all in memory (a follower's Fetch answered
	// from the records a Produce brought) may go out inline too, from
	// where it lies (writer_inline.go).
	var parts [][]byte
	if c.raw != nil && !inlineable(resp) {
		parts = memoryParts(resp)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.releaseResponse(resp)
		frame.release()
		return
	}
	s := &c.ring[idx]
	if s.seq != seq || s.answered {
		c.mu.Unlock()
		panic(fmt.Sprintf("netio: respond called twice for correlation id %d", corr))
	}
	s.answered = true
	s.resp = resp
	s.frame = frame
	s.parts = parts
	isHead := idx == c.head
	// Only the one request in flight is written inline: answers that
	// come in a burst (a Produce's pipelined requests completing together)
	// go out in one write of the writer goroutine.
	inline := isHead && c.count == 1 && c.owner == ownerNone && c.raw != nil && s.inlineable()
	switch {
	case inline:
		c.owner = ownerInline
	case c.owner == ownerInline:
		isHead = false // the inline writer takes it, or hands it on
	}
	c.mu.Unlock()
	if inline {
		c.writeInline()
	} else if isHead {
		c.signalWriter()
	}
}

func (c *conn) signalWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stopReading tells the writer that no request will come: it finishes the
// slots in flight, then ends.
func (c *conn) stopReading() {
	c.mu.Lock()
	c.readerDone = true
	c.mu.Unlock()
	c.signalWriter()
}

// beginDrain starts a graceful close: the reader stops at the next frame.
func (c *conn) beginDrain() {
	c.drainOnce.Do(func() {
		close(c.drain)
		// Wake a reader blocked in Read; idleAwareReader sees drain.
		_ = c.netConn.SetReadDeadline(time.Unix(1, 0))
	})
}

func (c *conn) draining() bool {
	select {
	case <-c.drain:
		return true
	default:
		return false
	}
}

// close ends the connection at once: responses not yet written are dropped
// and request contexts are cancelled.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		var dropped []responseSlot
		for _, slot := range c.ring {
			if slot.answered {
				dropped = append(dropped, slot)
			}
		}
		clear(c.ring)
		c.count = 0
		c.mu.Unlock()
		for _, slot := range dropped {
			c.releaseResponse(slot.resp)
			slot.frame.release()
		}
		c.cancel()
		if err := c.netConn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Debug("close connection", zap.Error(err))
		}
		c.log.Debug("connection closed")
	})
}

// isClosed reports whether close has run.
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// inFlight is the number of requests read and not yet written.
func (c *conn) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// logReadEnd logs why the reader stopped, loudly for bad input.
func (c *conn) logReadEnd(err error) {
	var bad *badRequestError
	switch {
	case errors.As(err, &bad):
		clientID := bad.header.ClientID
		if clientID == "" {
			clientID = c.clientID // the header broke before its client id
		}
		c.log.Warn("closing connection: bad request", zap.String("client_id", clientID),
			zap.Int16("api_key", bad.header.APIKey), zap.Int16("api_version", bad.header.APIVersion),
			zap.Int32("correlation_id", bad.header.CorrelationID), zap.Error(err))
	case errors.Is(err, ErrFrameSize):
		c.log.Warn("closing connection: bad frame size", zap.String("client_id", c.clientID), zap.Error(err))
	case errors.Is(err, errIdle):
		c.log.Info("closing idle connection", zap.String("client_id", c.clientID),
			zap.Int64("connections_max_idle_ms", c.srv.cfg.ConnectionsMaxIdleMs))
	case errors.Is(err, io.EOF):
		c.log.Debug("connection closed by client", zap.String("client_id", c.clientID))
	case errors.Is(err, errClosed), errors.Is(err, net.ErrClosed):
		c.log.Debug("connection closed by server", zap.String("client_id", c.clientID))
	default:
		c.log.Debug("connection lost", zap.String("client_id", c.clientID), zap.Error(err))
	}
}
