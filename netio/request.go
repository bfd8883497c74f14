package netio

import (
	"context"
	"net"
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
type Handler interface {
	Handle(req *Request, respond func(kmsg.Response))
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request, respond func(kmsg.Response))

// Handle calls f.
func (f HandlerFunc) Handle(req *Request, respond func(kmsg.Response)) { f(req, respond) }

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
	// ID is unique among the connections of one Server.
	ID uint64
	// RemoteAddr and LocalAddr are the peer's and our address.
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// ListenerName is the Config's ListenerName.
	ListenerName string
	// Principal is who the client authenticated as; "User:ANONYMOUS"
	// until authentication exists (the future authorization point).
	Principal string
}

// Request is one decoded request.
type Request struct {
	Header RequestHeader
	// Body is the decoded request, of the kmsg type for Header.APIKey at
	// Header.APIVersion. Byte fields (Produce records) alias the frame,
	// which is never reused, so the handler may keep them.
	Body kmsg.Request
	// Conn is the connection the request came on.
	Conn *ConnInfo
	// FrameBytes is the size of the request frame, size prefix excluded.
	FrameBytes int
	// ReceivedAt is when the frame was read in full.
	ReceivedAt time.Time

	ctx context.Context
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
