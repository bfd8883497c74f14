package actors

import (
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A gated logger, and every logger made from it, logs until the gate
// closes and nothing after.
func TestGatedLoggerFallsSilentOnceClosed(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	var closed atomic.Bool
	logger := gatedLogger(zap.New(core), &closed).With(zap.Int32("node_id", 1))
	child := logger.Named("child").With(zap.String("k", "v"))
	logger.Info("before")
	child.Warn("before")
	closed.Store(true)
	logger.Info("after")
	child.Error("after")
	if ce := child.Check(zap.ErrorLevel, "after"); ce != nil {
		t.Errorf("a closed logger offers a checked entry")
	}
	if got := logs.Len(); got != 2 {
		t.Fatalf("%d entries, want the 2 logged before the gate closed: %v", got, logs.All())
	}
	for _, e := range logs.All() {
		if e.Message != "before" {
			t.Errorf("entry %q logged after the gate closed", e.Message)
		}
	}
}
