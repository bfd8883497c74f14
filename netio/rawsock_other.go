//go:build !linux

package netio

// rawSocketCalls: elsewhere sockets go through net.Conn (rawsock.go).
const rawSocketCalls = false

// rawIovecs is unused where sockets go through net.Conn.
type rawIovecs struct{}

func (*rawIovecs) clear() {}

func (s *rawSocket) readOnce(uintptr) bool  { panic("netio: raw socket calls on this platform") }
func (s *rawSocket) writeOnce(uintptr) bool { panic("netio: raw socket calls on this platform") }
