package actors

import (
	"go.uber.org/zap"
)

// appendWarnIntervalMs is the least time between two warnings of a leader's
// failing appends.
const appendWarnIntervalMs = 10_000

// appendFailureLog keeps a leader's failing appends from flooding the log: a
// full disk fails every produce (KAFKA_STORAGE_ERROR to each), and a line
// for each, thousands a minute, buried what the operator needed and filled
// the disk that held the log. It warns of the first failure, then at most
// once per appendWarnIntervalMs with how many it left out, and says when an
// append works again.
type appendFailureLog struct {
	failing    bool
	lastWarnMs int64
	suppressed int
}

// failed records a failed append at monotonic nowMs.
func (l *appendFailureLog) failed(logger *zap.Logger, nowMs int64, err error) {
	if l.failing && nowMs-l.lastWarnMs < appendWarnIntervalMs {
		l.suppressed++
		return
	}
	logger.Warn("append failed", zap.Error(err), zap.Int("failures_not_logged", l.suppressed))
	l.failing, l.lastWarnMs, l.suppressed = true, nowMs, 0
}

// succeeded records an append that worked.
func (l *appendFailureLog) succeeded(logger *zap.Logger) {
	if !l.failing {
		return
	}
	logger.Info("appends work again", zap.Int("failures_not_logged", l.suppressed))
	*l = appendFailureLog{}
}
