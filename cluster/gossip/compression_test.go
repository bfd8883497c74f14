package gossip

import (
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"go.uber.org/zap"
)

// Gossip messages go uncompressed: memberlist's LZW writer allocates and
// clears a 64 KiB table for every message (about 2.3 MB/s of a three-node
// cluster's allocations at rest, half of them).
func TestGossipMessagesUncompressed(t *testing.T) {
	cfg := Config{NodeID: 1, BindAddress: "127.0.0.1:0"}
	sc := cfg.serfConfig(make(chan serf.Event, 1), &conflictGuard{}, newLevelWriter(zap.NewNop()))
	if sc.MemberlistConfig.EnableCompression {
		t.Fatal("memberlist compresses gossip messages")
	}
}

// A node that still compresses its messages (an older gregor, in a rolling
// upgrade) and nodes that do not form one cluster and hear each other's tag
// changes: memberlist decodes a compressed message whatever its own setting.
func TestCompressedAndUncompressedNodesMix(t *testing.T) {
	old := startNodeWith(t, 1, func(c *Config) { c.compressed = true })
	nodes := []*testNode{old, startNode(t, 2, ""), startNode(t, 3, "")}
	for _, n := range nodes[1:] {
		if err := joinRetrying(t, n, old.Address()); err != nil {
			t.Fatalf("node %d join: %v", n.cfg.NodeID, err)
		}
	}
	for _, n := range nodes {
		waitLive(t, n, 3)
	}
	for _, from := range []*testNode{nodes[0], nodes[1]} {
		since := time.Now()
		tags := from.cfg.Tags
		tags.Rack = "moved-" + NodeName(from.cfg.NodeID)
		if err := from.SetTags(tags); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n == from {
				continue
			}
			n.rec.wait(t, "tags of node "+NodeName(from.cfg.NodeID), since, 5*time.Second, func(e Event) bool {
				return e.Member.NodeID == from.cfg.NodeID && (e.Kind == MemberUpdated || e.Kind == MemberJoined) && e.Member.Tags == tags
			})
		}
	}
}
