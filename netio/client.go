package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Defaults of the ClientConfig fields, with Kafka's values where Kafka's
// clients have the setting.
const (
	// DefaultClientID is the client_id of a Client's requests when the
	// ClientConfig names none.
	DefaultClientID = "gregor"
	// DefaultClientMaxQueuedRequests bounds the requests a Client holds
	// that are not yet written.
	DefaultClientMaxQueuedRequests = 1000
	// DefaultRequestTimeoutMs is request.timeout.ms (30 s), which is also
	// Kafka's replica.socket.timeout.ms.
	DefaultRequestTimeoutMs = 30_000
	// DefaultConnectTimeoutMs is socket.connection.setup.timeout.ms
	// (10 s): the dial and the ApiVersions exchange together.
	DefaultConnectTimeoutMs = 10_000
	// DefaultReconnectBackoffMs and DefaultReconnectBackoffMaxMs are
	// reconnect.backoff.ms and reconnect.backoff.max.ms.
	DefaultReconnectBackoffMs    = 50
	DefaultReconnectBackoffMaxMs = 1000
	// DefaultClientBufferPoolBytes bounds the free response buffers a
	// Client keeps when it pools them: a few follower fetch responses
	// (replica.fetch.response.max.bytes is 10 MiB).
	DefaultClientBufferPoolBytes = 32 << 20
	// DefaultSoftwareName and DefaultSoftwareVersion are sent in
	// ApiVersions v3+ (KIP-511).
	DefaultSoftwareName    = "gregor"
	DefaultSoftwareVersion = "0.1.0"
)

// The errors a Client's requests fail with. Test them with errors.Is; the
// error itself says which request, which peer and why.
var (
	// ErrClientClosed: the client was closed before the response came.
	ErrClientClosed = errors.New("netio: client closed")
	// ErrQueueFull: Send refused the request because MaxQueuedRequests
	// requests wait to be written (backpressure). Retriable.
	ErrQueueFull = errors.New("netio: client request queue full")
	// ErrConnectionFailed: the connection could not be set up, or failed
	// before the response came; the request may or may not have been
	// processed. Retriable: the client reconnects.
	ErrConnectionFailed = errors.New("netio: connection to peer failed")
	// ErrRequestTimeout: no response within the request's timeout. The
	// request may or may not have been processed. Retriable.
	ErrRequestTimeout = errors.New("netio: request timed out")
	// ErrNotServedByPeer: the peer's ApiVersions does not list the key, or
	// no version is served by both sides.
	ErrNotServedByPeer = errors.New("netio: API not served by peer")
	// ErrMalformedResponse: the response could not be decoded.
	ErrMalformedResponse = errors.New("netio: malformed response")
)

// IsRetriable reports whether a request that failed with err may succeed if
// sent again: the connection failed, the request timed out, or the queue was
// full. Kafka's NetworkException and TimeoutException.
func IsRetriable(err error) bool {
	return errors.Is(err, ErrConnectionFailed) || errors.Is(err, ErrRequestTimeout) || errors.Is(err, ErrQueueFull)
}

// ClientConfig configures a Client. Zero fields take the defaults above.
type ClientConfig struct {
	// Address is the peer listener's host:port.
	Address string
	// ClientID is the client_id of every request (e.g. "broker-3").
	ClientID string
	// APIVersions caps, per key, the versions this client sends: the
	// version of a request is the highest that both this range and the
	// peer serve. A key not listed is sent at up to the request type's
	// MaxVersion. Use it for keys whose newer versions change what the
	// caller must fill in (Fetch v13 and up name topics by id only).
	APIVersions []APIVersionRange
	// MaxInFlightRequests bounds the requests written and not yet
	// answered; further requests wait in the queue.
	MaxInFlightRequests int
	// MaxQueuedRequests bounds the requests accepted by Send and not yet
	// written; Send refuses more with ErrQueueFull.
	MaxQueuedRequests int
	// RequestTimeoutMs is the timeout of a request sent with a zero
	// timeout, counted from Send.
	RequestTimeoutMs int64
	// ConnectTimeoutMs bounds the dial plus the ApiVersions exchange.
	ConnectTimeoutMs int64
	// ReconnectBackoffMs is the wait before dialling again after a
	// connection failed; it doubles, with ±20% jitter, after each failed
	// attempt in a row, up to ReconnectBackoffMaxMs.
	ReconnectBackoffMs    int64
	ReconnectBackoffMaxMs int64
	// ResponseMaxBytes bounds a response frame; a larger one closes the
	// connection. Zero means DefaultRequestMaxBytes.
	ResponseMaxBytes int32
	// PoolResponseBuffers reads response frames into buffers of the
	// client's pool, which return there when the Response is released
	// (see Response). Off: every frame is a fresh allocation that the
	// garbage collector frees.
	PoolResponseBuffers bool
	// BufferPoolBytes bounds the free buffers the client's pool keeps.
	// Zero means DefaultClientBufferPoolBytes; negative keeps none.
	BufferPoolBytes int64
	// PoisonReleasedBuffers is Config.PoisonReleasedBuffers for the
	// client's pool (tests).
	PoisonReleasedBuffers bool
	// ResponsePool, when set with PoolResponseBuffers, is the pool the
	// client reads response frames into, shared with other clients, in
	// place of one of its own (BufferPoolBytes and PoisonReleasedBuffers
	// are then the pool's business).
	ResponsePool *BufferPool
	// SoftwareName and SoftwareVersion go in ApiVersions v3+.
	SoftwareName, SoftwareVersion string
	// Dial opens the connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// RequestSent, when set, is called with the API key of every request
	// Send accepts (metrics: what a broker asks of others). It is called
	// on the sender's goroutine and must be cheap and never block.
	RequestSent func(apiKey int16)
	// noInlineWrites leaves every write to the writer goroutine (tests).
	noInlineWrites bool
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg ClientConfig) withDefaults() ClientConfig {
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.MaxInFlightRequests == 0 {
		cfg.MaxInFlightRequests = DefaultMaxInFlightRequests
	}
	if cfg.MaxQueuedRequests == 0 {
		cfg.MaxQueuedRequests = DefaultClientMaxQueuedRequests
	}
	if cfg.RequestTimeoutMs == 0 {
		cfg.RequestTimeoutMs = DefaultRequestTimeoutMs
	}
	if cfg.ConnectTimeoutMs == 0 {
		cfg.ConnectTimeoutMs = DefaultConnectTimeoutMs
	}
	if cfg.ReconnectBackoffMs == 0 {
		cfg.ReconnectBackoffMs = DefaultReconnectBackoffMs
	}
	if cfg.ReconnectBackoffMaxMs == 0 {
		cfg.ReconnectBackoffMaxMs = max(DefaultReconnectBackoffMaxMs, cfg.ReconnectBackoffMs)
	}
	if cfg.ResponseMaxBytes == 0 {
		cfg.ResponseMaxBytes = DefaultRequestMaxBytes
	}
	if cfg.BufferPoolBytes == 0 {
		cfg.BufferPoolBytes = DefaultClientBufferPoolBytes
	}
	if cfg.SoftwareName == "" {
		cfg.SoftwareName = DefaultSoftwareName
	}
	if cfg.SoftwareVersion == "" {
		cfg.SoftwareVersion = DefaultSoftwareVersion
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	return cfg
}

// validate reports the first setting out of range; cfg has its defaults.
func (cfg *ClientConfig) validate() error {
	switch {
	case cfg.Address == "":
		return errors.New("no address")
	case cfg.MaxInFlightRequests < 0, cfg.MaxQueuedRequests < 0:
		return fmt.Errorf("negative request bound (in flight %d, queued %d)", cfg.MaxInFlightRequests, cfg.MaxQueuedRequests)
	case cfg.RequestTimeoutMs < 0, cfg.ConnectTimeoutMs < 0:
		return fmt.Errorf("negative timeout (request %d ms, connect %d ms)", cfg.RequestTimeoutMs, cfg.ConnectTimeoutMs)
	case cfg.ReconnectBackoffMs < 0, cfg.ReconnectBackoffMaxMs < cfg.ReconnectBackoffMs:
		return fmt.Errorf("bad reconnect backoff %d..%d ms", cfg.ReconnectBackoffMs, cfg.ReconnectBackoffMaxMs)
	case cfg.ResponseMaxBytes < 0:
		return fmt.Errorf("response max bytes %d is negative", cfg.ResponseMaxBytes)
	case !validSoftwareLabel(cfg.SoftwareName) || !validSoftwareLabel(cfg.SoftwareVersion):
		return fmt.Errorf("software name %q or version %q does not match Kafka's pattern", cfg.SoftwareName, cfg.SoftwareVersion)
	}
	for _, r := range cfg.APIVersions {
		if r.MinVersion < 0 || r.MinVersion > r.MaxVersion {
			return fmt.Errorf("API key %d: bad version range %d..%d", r.APIKey, r.MinVersion, r.MaxVersion)
		}
	}
	return nil
}

// Client is one connection to one peer's listener, for requests between
// gregor nodes: follower fetches, broker-to-controller RPCs, forwarded admin
// requests, raft messages (private APIs). Make one per (node, peer,
// listener).
//
// Send never blocks and never calls back from inside itself: the caller may
// be an actor. Requests are pipelined with correlation ids, at most
// MaxInFlightRequests on the wire; their versions are the highest both sides
// serve, from the peer's ApiVersions, asked once per connection. The
// connection is dialled when there is a request to send and again, after a
// back-off, when it failed: requests written on a failed connection fail with
// ErrConnectionFailed, those still queued are sent on the next one, unless
// the next dial fails too. A request that times out on the wire also closes
// its connection, as Kafka's clients do: a peer that stopped answering one
// request holds every later one behind it.
//
// Safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	log  *zap.Logger
	pool *bufferPool
	// clientID is cfg.ClientID for request headers.
	clientID *string
	// versionCaps is cfg.APIVersions by key.
	versionCaps map[int16]APIVersionRange
	// ctx is cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	// wake tells the run loop that a request was queued.
	wake chan struct{}
	// done is closed when the run loop has ended.
	done chan struct{}

	mu     sync.Mutex
	closed bool
	// queue holds the accepted requests not yet written, oldest first;
	// queued counts those still live (not timed out).
	queue  []*call
	queued int
	// conn is the current connection, nil between connections.
	conn *clientConn
	// inlineWritten counts the inline writes (client_inline.go),
	// inlineHandedOn those that left work to the writer goroutine (tests).
	inlineWritten, inlineHandedOn atomic.Int64
}

// NewClient checks cfg and returns a client; it dials when the first request
// is sent.
func NewClient(cfg ClientConfig, logger *zap.Logger) (*Client, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("netio client config: %w", err)
	}
	caps := make(map[int16]APIVersionRange, len(cfg.APIVersions))
	for _, r := range cfg.APIVersions {
		caps[r.APIKey] = r
	}
	var pool *bufferPool
	switch {
	case cfg.PoolResponseBuffers && cfg.ResponsePool != nil:
		pool = cfg.ResponsePool.p
	case cfg.PoolResponseBuffers:
		pool = newBufferPool(cfg.BufferPoolBytes, cfg.PoisonReleasedBuffers)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:         cfg,
		log:         logger.With(zap.String("peer", cfg.Address)),
		pool:        pool,
		clientID:    &cfg.ClientID,
		versionCaps: caps,
		ctx:         ctx,
		cancel:      cancel,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	go c.run()
	return c, nil
}

// Address is the peer's address.
func (c *Client) Address() string { return c.cfg.Address }

// Response is a decoded response to a request sent through a Client. Its
// receiver owns it.
//
// Body's byte fields (Fetch record batches, raft payloads of a private API)
// alias the response frame; strings never do. With
// ClientConfig.PoolResponseBuffers the frame returns to the client's pool
// once Release and every function returned by Retain have been called; a
// byte field used after that reads another response's bytes. A Response that
// is never released costs nothing but the reuse: its frame goes to the
// garbage collector. Without pooling both are no-ops and the bytes stay valid
// for as long as they are referenced.
type Response struct {
	// Body is the response, of the request's ResponseKind at the version
	// the request was sent at (Body.GetVersion()).
	Body kmsg.Response

	frame    *frameRef
	released atomic.Bool
}

// Release gives up the owner's reference to the frame; a second call panics.
func (r *Response) Release() {
	if r.released.Swap(true) {
		panic("netio: Response released twice")
	}
	r.frame.release()
}

// Retain adds a reference to the frame, for a holder other than the owner
// (a partition actor appending some of a fetch response's records): the
// frame stays valid until the returned function is called, exactly once.
// Call it while the owner's reference is held.
func (r *Response) Retain() (release func()) {
	f := r.frame
	if f == nil {
		return noRelease
	}
	if f.refs.Add(1) <= 1 {
		panic("netio: Retain on a Response whose frame was already released")
	}
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			panic("netio: a Response frame's release function was called twice")
		}
		f.release()
	}
}

// callState is where a call is; guarded by Client.mu.
type callState uint8

const (
	callQueued  callState = iota // in Client.queue
	callExpired                  // timed out while queued, still in the slice
	callTaken                    // taken by a connection's writer
)

// call is one request from Send to its completion.
type call struct {
	req  kmsg.Request
	done func(*Response, error)
	// timeout is the request's, for the error message.
	timeout time.Duration
	timer   *time.Timer

	// Guarded by Client.mu.
	state callState
	conn  *clientConn // the connection that took it

	// Set by the writer before the request goes out.
	corr    int32
	version int16
	// noResponse: Produce with acks=0, complete once written.
	noResponse bool

	completed atomic.Bool
}

// Send queues req and returns at once; done is called exactly once, later
// and from another goroutine, with the response or the error. It must not
// block: hand the result to a mailbox or a channel. timeout bounds the time
// from Send to the response; zero means RequestTimeoutMs. For a Fetch that
// waits on the peer, add its MaxWaitMillis.
//
// Send sets the request's version: req must not be used by the caller until
// done is called. Send returns an error, and never calls done, when the
// client is closed (ErrClientClosed) or its queue is full (ErrQueueFull).
func (c *Client) Send(req kmsg.Request, timeout time.Duration, done func(*Response, error)) error {
	if req == nil || done == nil {
		return errors.New("netio: Send with a nil request or completion")
	}
	if timeout <= 0 {
		timeout = time.Duration(c.cfg.RequestTimeoutMs) * time.Millisecond
	}
	cl := &call{req: req, done: done, timeout: timeout}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		cl.noResponse = true
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return fmt.Errorf("%w: %s to %s", ErrClientClosed, c.apiName(req), c.cfg.Address)
	case c.queued >= c.cfg.MaxQueuedRequests:
		queued := c.queued
		c.mu.Unlock()
		return fmt.Errorf("%w: %d requests wait for %s", ErrQueueFull, queued, c.cfg.Address)
	}
	if len(c.queue) >= 2*c.cfg.MaxQueuedRequests {
		c.compactQueue()
	}
	c.queue = append(c.queue, cl)
	c.queued++
	cl.timer = time.AfterFunc(timeout, func() { c.expire(cl) })
	inline := c.sendInline()
	c.mu.Unlock()
	if c.cfg.RequestSent != nil {
		c.cfg.RequestSent(req.Key())
	}
	if inline != nil {
		inline.writeInline()
		return nil
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// RoundTrip sends req and waits for its response, for callers that may block
// (tools, tests; never an actor). ctx's deadline is the request's timeout.
// When ctx ends first, the response that arrives later is dropped.
func (c *Client) RoundTrip(ctx context.Context, req kmsg.Request) (*Response, error) {
	var timeout time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		if timeout = time.Until(deadline); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	type result struct {
		resp *Response
		err  error
	}
	ch := make(chan result, 1)
	if err := c.Send(req, timeout, func(resp *Response, err error) { ch <- result{resp, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close fails every request not yet answered with ErrClientClosed, closes the
// connection and returns once the client's goroutines have ended.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cc := c.conn
	c.mu.Unlock()
	c.cancel()
	if cc != nil {
		cc.fail(ErrClientClosed)
	}
	<-c.done
	return nil
}

// compactQueue drops the timed-out calls from the queue; c.mu is held.
func (c *Client) compactQueue() {
	live := c.queue[:0]
	for _, cl := range c.queue {
		if cl.state == callQueued {
			live = append(live, cl)
		}
	}
	clear(c.queue[len(live):])
	c.queue = live
}

// expire runs when a call's timer fires: a queued call leaves the queue, a
// call on the wire closes its connection.
func (c *Client) expire(cl *call) {
	c.mu.Lock()
	state, cc := cl.state, cl.conn
	if state == callQueued {
		cl.state = callExpired
		c.queued--
	}
	c.mu.Unlock()
	if !cl.completed.CompareAndSwap(false, true) {
		return
	}
	err := fmt.Errorf("%w: %s to %s after %v", ErrRequestTimeout, c.apiName(cl.req), c.cfg.Address, cl.timeout)
	if state == callTaken && cc != nil {
		// Before the completion: a request sent from it must not go out
		// on this connection.
		// No correlation id here: the writer may be assigning it, unlocked.
		c.log.Warn("closing connection: request timed out", zap.String("api", c.apiName(cl.req)),
			zap.Duration("timeout", cl.timeout))
		cc.fail(err)
	}
	cl.done(nil, err)
}

// complete delivers the outcome of a call, once: it reports whether this was
// the first outcome. A response that comes too late is released.
func (c *Client) complete(cl *call, resp *Response, err error) bool {
	if !cl.completed.CompareAndSwap(false, true) {
		if resp != nil {
			resp.Release()
		}
		return false
	}
	cl.timer.Stop()
	cl.done(resp, err)
	return true
}

// takeQueued pops the oldest live queued call for cc, nil when none or when
// cc failed. Unless all, it leaves (and returns nil for) a call that
// completes once written (acks=0) or that cc cannot send.
func (c *Client) takeQueued(cc *clientConn, all bool) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-cc.dead:
		return nil
	default:
	}
	for len(c.queue) > 0 {
		cl := c.queue[0]
		if cl.state != callQueued {
			c.queue[0] = nil
			c.queue = c.queue[1:]
			continue
		}
		if !all {
			if _, err := cc.versionFor(cl.req); err != nil || cl.noResponse {
				return nil
			}
		}
		c.queue[0] = nil
		c.queue = c.queue[1:]
		cl.state, cl.conn = callTaken, cc
		c.queued--
		return cl
	}
	c.queue = nil // let a drained slice's array go
	return nil
}

// hasQueued reports whether a live call waits.
func (c *Client) hasQueued() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued > 0
}

// failQueued fails every queued call with err.
func (c *Client) failQueued(err error) {
	c.mu.Lock()
	var calls []*call
	for _, cl := range c.queue {
		if cl.state == callQueued {
			cl.state = callTaken
			calls = append(calls, cl)
		}
	}
	c.queue, c.queued = nil, 0
	c.mu.Unlock()
	for _, cl := range calls {
		c.complete(cl, nil, err)
	}
}

// apiName names a request's key for errors and log lines.
func (c *Client) apiName(req kmsg.Request) string {
	if kmsg.RequestForKey(req.Key()) == nil {
		return fmt.Sprintf("%T (key %d)", req, req.Key())
	}
	return kmsg.NameForKey(req.Key())
}
