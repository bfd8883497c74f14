// Package netio is the TCP protocol adapter: the listener, Kafka framing,
// request header parsing (v0–v2, with the tagged fields of flexible
// versions), kmsg decode and encode, and the per-connection pipeline that
// hands each decoded request to a Handler and writes responses in request
// order.
//
// It imports nothing of gregor: the request router (in actors) implements
// Handler and Observer and gives the table of API keys and versions it
// serves. netio answers ApiVersions (key 18) itself from that table,
// including Kafka's UNSUPPORTED_VERSION downgrade answer (KIP-511).
//
// Files: server.go (listener, connection count, shutdown), conn.go (one
// connection: reader and dispatch), writer.go (the ordered writer),
// writer_inline.go (answers written by the goroutine that answers), idle.go
// (idle timeout and shutdown through read deadlines), decode.go (framing,
// header, body), encode.go (response frames, EncodedResponse for pre-encoded
// and zero-copy bodies), 18_api_versions.go and 18_api_versions_features.go
// (ApiVersions, with the feature levels of v3+), config.go, request.go
// (Handler, Request, Observer, Retain), pool.go (the buffer pool by size
// class), rawio*.go (socket reads and writes without the scheduler's
// syscall bookkeeping).
//
// Private APIs: Config.PrivateAPIs adds API keys kmsg does not know, with
// request and response types the caller supplies (private.go); only the
// listener configured with them advertises and serves them.
//
// The inter-broker client (client.go, client_conn.go, client_inline.go): a Client is one
// connection to one peer listener. Send queues a request and returns; a
// completion function gets the response or the error later, on a goroutine of
// the client. Versions are negotiated per connection from the peer's
// ApiVersions; requests are pipelined up to a bound; each has a timeout; the
// connection is re-dialled with back-off after a failure. Response frames may
// come from the client's own buffer pool: the Response then owns its frame
// (Release, Retain), as a Request does on the server side.
//
// Buffers: each Server owns a pool of buffers by size class, bounded by
// Config.BufferPoolBytes, for the connections' response encoding and, with
// Config.PoolRequestBuffers, for request frames. A pooled frame is counted:
// Handle holds it until it returns, the response until it is written, and
// every Request.Retain until released; the last one gives it back. A large
// frame is read from the socket straight into its buffer.
//
// Bad input closes only the connection it came on, with a log line naming
// the client id and address: a frame size that is negative or above
// socket.request.max.bytes, a header or body that does not decode, an API key
// or version that is not served.
//
// Concurrency: per connection, one reader goroutine reads frames, decodes
// them and calls Handler.Handle, one at a time; one writer goroutine writes
// the responses strictly in request order, batching those that are ready
// into one write. The answer to a connection's only request in flight,
// given while the writer goroutine waits, is written by the goroutine that
// answers, with one non-blocking write (a body in memory, such as a
// follower's Fetch answer, with one writev from where it lies; what the
// socket does not take goes on to the writer goroutine); a client's
// request sent while its connection has nothing else queued or on the wire
// likewise goes out from the goroutine that sends it. Either saves a
// goroutine wake-up per message. At most Config.MaxInFlightRequests
// requests per connection are read and not yet written; when full the
// reader stops reading
// (backpressure, nothing dropped). A Handler may be called concurrently from
// many connections, and may answer from any goroutine.
package netio
