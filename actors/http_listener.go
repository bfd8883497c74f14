package actors

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// httpOnlyListener is the listener of an HTTP endpoint (metrics.listener,
// debug.listener) that turns away a Kafka client pointed at it by mistake
// at once. A Kafka request starts with its 4-byte size, whose first byte is
// 0 (an HTTP request starts with its method's capital letters); Go's HTTP
// server would wait ReadHeaderTimeout (10 s) for a header line that never
// comes, and the client with it. Instead the connection is answered 400
// with the reason and closed: franz-go then reports the 'HTTP' it read as
// "is your broker port correct?", and other clients see the connection
// closed.
type httpOnlyListener struct {
	net.Listener
	key string // the setting that names the listener, for the answer
}

// Accept implements net.Listener.
func (l httpOnlyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &httpOnlyConn{Conn: c, key: l.key}, nil
}

// httpOnlyConn checks the first byte a connection reads.
type httpOnlyConn struct {
	net.Conn
	key     string
	checked atomic.Bool
}

// Read implements net.Conn: the first read that returns bytes checks the
// first of them.
func (c *httpOnlyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n == 0 || c.checked.Swap(true) || looksLikeHTTP(p[0]) {
		return n, err
	}
	_, _ = fmt.Fprintf(c.Conn, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"+
		"this is gregor's %s, which speaks HTTP, not the Kafka protocol: point Kafka clients at the node's listeners address\n", c.key)
	_ = c.Conn.Close()
	return 0, io.EOF
}

// looksLikeHTTP reports whether b can start an HTTP/1 request line (or
// HTTP/2's preface, PRI): a method is made of capital letters.
func looksLikeHTTP(b byte) bool { return b >= 'A' && b <= 'Z' }
