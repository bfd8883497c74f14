package gossip

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogLevels: serf's and memberlist's "[LEVEL] message" lines reach zap
// at that level, but for a probe a peer did not answer, logged by memberlist
// as an error while gossip handles it, which is a warning.
func TestLogLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	w := newLevelWriter(zap.New(core))
	for _, line := range []string{
		"[ERR] memberlist: Failed fallback TCP ping: timeout 200ms: read tcp 127.0.0.1:55666->127.0.0.1:25201: i/o timeout\n",
		"[ERR] memberlist: Failed to receive: bad message\n",
		"[WARN] memberlist: Refuting a dead message (from: gregor-2)\n",
		"[INFO] serf: EventMemberJoin: gregor-3 127.0.0.1\n",
		"[DEBUG] memberlist: Stream connection from=127.0.0.1:1\n",
	} {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	want := []zapcore.Level{zapcore.WarnLevel, zapcore.ErrorLevel, zapcore.WarnLevel, zapcore.InfoLevel, zapcore.DebugLevel}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("%d lines logged, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Level != want[i] {
			t.Errorf("line %d (%q) at %v, want %v", i, e.Message, e.Level, want[i])
		}
	}
}

// TestShutdownWithoutLeaveIsNews: serf warns of a shutdown without a leave;
// a node that stops so on purpose (ShutdownWithoutLeave: nobody is left to
// hear a leave) logs it as news, and one that did not mean to (Shutdown)
// as a warning.
func TestShutdownWithoutLeaveIsNews(t *testing.T) {
	for _, tc := range []struct {
		name      string
		onPurpose bool
		want      zapcore.Level
	}{
		{"ShutdownWithoutLeave", true, zapcore.InfoLevel},
		{"Shutdown", false, zapcore.WarnLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			n := startNodeWith(t, 1, func(c *Config) { c.Logger = zap.New(core) })
			shutdown := n.Shutdown
			if tc.onPurpose {
				shutdown = n.ShutdownWithoutLeave
			}
			if err := shutdown(); err != nil {
				t.Fatal(err)
			}
			got := logs.FilterMessage(string(noLeaveWarning)).All()
			if len(got) != 1 {
				t.Fatalf("serf's warning logged %d times, want once", len(got))
			}
			if got[0].Level != tc.want {
				t.Errorf("serf's warning at %v, want %v", got[0].Level, tc.want)
			}
		})
	}
}
