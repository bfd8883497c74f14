package netio

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves the decoded requests of every connection.
//
// Handle is called on the connection's reader goroutine, one request at a
// time per connection and concurrently across connections; it must not block.
// It hands the request on (to the router's actors) and returns. The answer is
// given by calling respond exactly once, from any goroutine, now or later:
//   - respond(resp) writes resp, encoded at the request's version, once every
//     earlier request of the connection has been answered;
//   - respond(nil) sends nothing for this request (Produce with acks=0) but
//     keeps the order of the others.
//
// resp must be the response kind of the request (its Key must match) and must
// not be changed after respond. Calling respond twice is a bug and panics;
// calling it after the connection closed is harmless.
//
// With Config.PoolRequestBuffers, the byte fields of req.Body (Produce
// records) stay valid only until Handle has returned and respond has been
// called, unless the handler takes a reference with req.Retain: in
// particular, respond(nil) for acks=0 must come after Retain for records
// that are still to be appended.
type Handler interface {
	Handle(req *Request, respond func(kmsg.Response))
}

// RequestHeader is the Kafka request header (v0–v2).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	// ClientID is the client_id, "" when null or absent (header v0).
	ClientID string
}

// ConnInfo describes the connection a request came on. It is shared by every
// request of the connection and never changes.
type ConnInfo struct {
	// ID is unique among the connections of every Server in the process.
	ID uint64
	// RemoteAddr and LocalAddr are the peer's and our address.
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// ListenerName is the Config's ListenerName.
	ListenerName string
	// Principal is who the client authenticated as; "User:ANONYMOUS"
	// until authentication exists (the future authorization point).
	Principal string
	// closed is done once the connection closed (nil: never).
	closed context.Context
}

// Closed is done once the connection closed: its peer closed it, it
// failed, or the server closed it. A handler that holds a request back
// (a parked Fetch) may drop it then, with respond(nil): nothing would be
// written. A ConnInfo made outside a Server is never done.
func (ci *ConnInfo) Closed() context.Context {
	if ci.closed == nil {
		return context.Background()
	}
	return ci.closed
}

// Request is one decoded request.
type Request struct {
	Header RequestHeader
	// Body is the decoded request, of the kmsg type for Header.APIKey at
	// Header.APIVersion. Its byte fields (Produce records, JoinGroup
	// protocol metadata, SyncGroup assignments, SaslAuthenticate bytes,
	// unknown tagged fields) alias the request frame; strings never do.
	// Without Config.PoolRequestBuffers the frame is never reused, so the
	// handler may keep them. With it, the frame is valid until Handle has
	// returned, respond has been called and every Retain has been
	// released (netio itself keeps it until the response is written, so
	// a response may alias its request): see Retain.
	Body kmsg.Request
	// Conn is the connection the request came on.
	Conn *ConnInfo
	// FrameBytes is the size of the request frame, size prefix excluded.
	FrameBytes int
	// ReceivedAt is when the frame was read in full.
	ReceivedAt time.Time

	ctx context.Context
	// frame counts the references to a pooled frame; nil when the frame
	// is not pooled.
	frame *frameRef
	// pool gives ResponseBuffer its buffers; nil outside a Server.
	pool *bufferPool
}

// Retain keeps the request's frame, and so every byte field of Body, valid
// until the returned release function is called. Each release function must
// be called exactly once, from any goroutine; a second call panics. Call
// Retain while the frame is still valid: during Handle, before respond, or
// while holding an earlier Retain.
//
// With Config.PoolRequestBuffers the frame goes back to the server's pool
// once Handle has returned, the response has been written (or dropped, or
// respond(nil) called) and every release function has been called; a byte
// field of Body used after that reads another request's bytes. A handler that keeps byte fields for good (a
// group keeping JoinGroup metadata) may Retain and never release: the frame
// then goes to the garbage collector instead of the pool. Without pooling
// Retain costs nothing and release does nothing.
func (r *Request) Retain() (release func()) {
	f := r.frame
	if f == nil {
		return noRelease
	}
	if f.refs.Add(1) <= 1 {
		panic("netio: Retain on a request whose frame was already released")
	}
	if i := f.retains.Add(1) - 1; i < 64 {
		// Told apart by its bit in f.released: one allocation, the
		// function, where a flag of its own was a second.
		bit := uint64(1) << i
		return func() {
			if f.released.Or(bit)&bit != 0 {
				panic("netio: a request frame's release function was called twice")
			}
			f.release()
		}
	}
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			panic("netio: a request frame's release function was called twice")
		}
		f.release()
	}
}

// noRelease is Retain's release function for frames that are not pooled.
func noRelease() {}

// ResponseBuffer returns an empty buffer with room for at least n bytes, for
// encoding the body of an EncodedResponse into. Give it back through the
// response's Buffer field: netio returns it to the server's pool once the
// response is written or dropped. A buffer that is never given back is
// simply garbage.
func (r *Request) ResponseBuffer(n int) []byte {
	return r.pool.get(n)[:0]
}

// frameRef is a pooled request frame and its references: one for Handle
// until it returns, one for respond until it is called, one per Retain.
// When the count drops to zero the frame goes back to the pool.
type frameRef struct {
	pool *bufferPool
	buf  []byte
	refs atomic.Int32
	// retains counts the Retains handed out; the release of each of the
	// first 64 sets its bit in released (a frameRef is never reused, so a
	// second call finds its bit set).
	retains  atomic.Int32
	released atomic.Uint64
}

// release drops one reference; nil-safe.
func (f *frameRef) release() {
	if f == nil {
		return
	}
	switch n := f.refs.Add(-1); {
	case n == 0:
		buf := f.buf
		f.buf = nil
		f.pool.put(buf)
	case n < 0:
		panic("netio: a request frame was released more often than referenced")
	}
}

// Context is cancelled when the request's connection closes: work for it can
// stop, as nobody will read the answer.
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// WithContext returns a shallow copy of r with ctx as its Context, for tests
// and for callers that build requests outside a connection.
func (r *Request) WithContext(ctx context.Context) *Request {
	c := *r
	c.ctx = ctx
	return &c
}

// Observer receives the metrics events of a Server. Its methods are called
// from many goroutines and must be cheap and non-blocking. It is declared here
// and implemented by whoever exports metrics.
type Observer interface {
	// ConnectionOpened and ConnectionClosed bracket every accepted
	// connection that was not refused by max.connections.
	ConnectionOpened()
	ConnectionClosed()
	// ConnectionRefused counts connections closed at accept because
	// max.connections were open.
	ConnectionRefused()
	// RequestCompleted is called once per request when its response is
	// written, or skipped for a nil response, with the time since the
	// request frame was read.
	RequestCompleted(apiKey int16, latency time.Duration)
	// BytesReceived and BytesSent count wire bytes, size prefixes included.
	BytesReceived(n int)
	BytesSent(n int)
}
