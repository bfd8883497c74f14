package actors

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A node that stopped logs nothing more. Goroutines it leaves to finish on
// their own (a controller call's retry timer, a connection's last
// callback) may outlive it by a moment; what they would log is about a node
// that is gone, and a test's logger must not hear it after the test ends.

// gatedLogger is logger with a gate that silences it and every logger made
// from it once closed is set.
func gatedLogger(logger *zap.Logger, closed *atomic.Bool) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &gatedCore{Core: c, closed: closed} }))
}

// gatedCore passes entries to its Core until closed is set.
type gatedCore struct {
	zapcore.Core
	closed *atomic.Bool
}

func (g *gatedCore) Enabled(l zapcore.Level) bool { return !g.closed.Load() && g.Core.Enabled(l) }

func (g *gatedCore) With(fields []zapcore.Field) zapcore.Core {
	return &gatedCore{Core: g.Core.With(fields), closed: g.closed}
}

func (g *gatedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if g.closed.Load() {
		return ce
	}
	// The inner core adds itself to ce: it writes, the gate checked.
	return g.Core.Check(e, ce)
}
