package gossip

import (
	"bytes"
	"log"

	"go.uber.org/zap"
)

// newStdLogger is a log.Logger for serf and memberlist whose lines go to zap
// at the level their "[LEVEL]" prefix names.
func newStdLogger(logger *zap.Logger) *log.Logger {
	return log.New(&levelWriter{log: logger.Named("serf").WithOptions(zap.AddCallerSkip(3))}, "", 0)
}

// levelWriter writes serf's log lines to zap.
type levelWriter struct{ log *zap.Logger }

func (w *levelWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level, msg := "", line
	if len(line) > 0 && line[0] == '[' {
		if end := bytes.IndexByte(line, ']'); end > 0 {
			level, msg = string(line[1:end]), bytes.TrimSpace(line[end+1:])
		}
	}
	switch level {
	case "ERR", "ERROR":
		w.log.Error(string(msg))
	case "WARN":
		w.log.Warn(string(msg))
	case "INFO":
		w.log.Info(string(msg))
	default:
		w.log.Debug(string(msg))
	}
	return len(p), nil
}
