package netio

import (
	"errors"
	"net"
	"time"
)

// idleAwareReader reads from the connection, turning read deadlines into the
// idle timeout and the shutdown signal: the deadline is set to
// connections.max.idle.ms after the last activity, and Shutdown sets it to
// the past. On a deadline it checks why, and reads on if neither applies.
type idleAwareReader struct{ c *conn }

func (r *idleAwareReader) Read(p []byte) (int, error) {
	c := r.c
	for {
		n, err := c.read(p)
		if n > 0 {
			c.touch()
			return n, err
		}
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		if c.draining() {
			return 0, errDraining
		}
		if err := c.rearmReadDeadline(); err != nil {
			return 0, err
		}
	}
}

// read reads the socket: with a raw system call when the socket's raw
// connection is known (rawio.go).
func (c *conn) read(p []byte) (int, error) {
	if c.rawRead != nil {
		return c.rawRead.Read(p)
	}
	return c.netConn.Read(p)
}

// touch records activity on the connection.
func (c *conn) touch() {
	c.lastActivityNs.Store(int64(time.Since(c.openedAt)))
}

// rearmReadDeadline runs when the read deadline passed. It returns errIdle if
// the connection had nothing in flight and no activity for
// connections.max.idle.ms; otherwise it sets the deadline to when that would
// be true. Requests in flight keep a connection alive (a parked Fetch is not
// idleness).
func (c *conn) rearmReadDeadline() error {
	idle := c.srv.cfg.idleTimeout()
	var deadline time.Time // none: idle timeout disabled
	if idle > 0 {
		now := time.Since(c.openedAt)
		next := time.Duration(c.lastActivityNs.Load()) + idle
		if next <= now {
			if c.inFlight() == 0 {
				return errIdle
			}
			next = now + idle
		}
		deadline = c.openedAt.Add(next)
	}
	if err := c.netConn.SetReadDeadline(deadline); err != nil {
		return err
	}
	// Shutdown may have set its past deadline just before ours.
	if c.draining() {
		return errDraining
	}
	return nil
}
