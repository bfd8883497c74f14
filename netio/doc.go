// Package netio is the TCP protocol adapter: the listener, Kafka framing,
// request header parsing, kmsg decode and encode, and the per-connection
// pipeline that hands each decoded request to a Handler and writes responses in
// request order.
//
// It imports nothing of gregor.
//
// Concurrency: one reader and one writer goroutine per connection; a Handler may
// be called concurrently from many connections.
package netio
