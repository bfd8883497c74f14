package quorum

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestRaftLinesSayTheirIdsAreRafts: raft's own log lines name nodes by raft
// id, so each carries how to read them as node ids.
func TestRaftLinesSayTheirIdsAreRafts(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	newRaftLogger(zap.New(core)).Infof("%x cast MsgVote for %x", 4, 2)
	entries := logs.All()
	if len(entries) != 1 || entries[0].LoggerName != "raft" || entries[0].ContextMap()["ids"] != "raft id = node id + 1" {
		t.Fatalf("raft line %+v, want logger raft with ids = raft id = node id + 1", entries)
	}
}
