package gossip

import (
	"bytes"
	"log"
	"sync/atomic"

	"go.uber.org/zap"
)

// newStdLogger is a log.Logger for serf and memberlist whose lines go to zap
// at the level their "[LEVEL]" prefix names, until the writer is muted.
func newStdLogger(w *levelWriter) *log.Logger { return log.New(w, "", 0) }

// levelWriter writes serf's log lines to zap.
type levelWriter struct {
	log *zap.Logger
	// muted drops every line: set at Shutdown, after which memberlist's
	// goroutines still finishing a probe only log their closed sockets.
	muted atomic.Bool
	// unannounced says the node shuts down without a leave on purpose
	// (Node.ShutdownWithoutLeave): serf's warning about it is news only.
	unannounced atomic.Bool
}

// noLeaveWarning is serf's warning at a Shutdown without a Leave.
var noLeaveWarning = []byte("serf: Shutdown without a Leave")

func newLevelWriter(logger *zap.Logger) *levelWriter {
	return &levelWriter{log: logger.Named("serf").WithOptions(zap.AddCallerSkip(3))}
}

func (w *levelWriter) Write(p []byte) (int, error) {
	if w.muted.Load() {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	level, msg := "", line
	if len(line) > 0 && line[0] == '[' {
		if end := bytes.IndexByte(line, ']'); end > 0 {
			level, msg = string(line[1:end]), bytes.TrimSpace(line[end+1:])
		}
	}
	switch {
	case peerUnanswered(level, msg):
		w.log.Warn(string(msg))
	case level == "ERR" || level == "ERROR":
		w.log.Error(string(msg))
	case level == "WARN" && w.unannounced.Load() && bytes.Equal(msg, noLeaveWarning):
		w.log.Info(string(msg))
	case level == "WARN":
		w.log.Warn(string(msg))
	case level == "INFO":
		w.log.Info(string(msg))
	default:
		w.log.Debug(string(msg))
	}
	return len(p), nil
}

// peerUnanswered says whether a serf or memberlist line at level reports only
// that a peer did not answer a probe: memberlist logs its fallback TCP ping's
// timeout as an error, but a node killed, paused or restarting causes it, and
// gossip's failure detection (the member's suspicion, then its failure, which
// the controller hears) is what handles it. Such a line is a warning, so
// that an operator's ERROR lines are those that need someone.
func peerUnanswered(level string, msg []byte) bool {
	return (level == "ERR" || level == "ERROR") && bytes.HasPrefix(msg, []byte("memberlist: Failed fallback TCP ping:"))
}
