package actors

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestAppendFailuresAreThrottled: a run of failing appends (a full disk)
// logs its first failure, then one line per interval counting the others,
// and one line when an append works again.
func TestAppendFailuresAreThrottled(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	logger := zap.New(core)
	var l appendFailureLog
	full := errors.New("no space left on device")
	for _, ms := range []int64{0, 100, 5_000, 9_999, 10_000, 12_000, 20_001} {
		l.failed(logger, ms, full)
	}
	l.succeeded(logger)
	l.succeeded(logger)
	l.failed(logger, 20_500, full)
	type line struct {
		msg       string
		notLogged int64
	}
	var got []line
	for _, e := range logs.All() {
		got = append(got, line{e.Message, e.ContextMap()["failures_not_logged"].(int64)})
	}
	want := []line{{"append failed", 0}, {"append failed", 3}, {"append failed", 1}, {"appends work again", 0}, {"append failed", 0}}
	if len(got) != len(want) {
		t.Fatalf("logged %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
