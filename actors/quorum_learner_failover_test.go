package actors

import (
	"testing"
)

// A broker-only node (a raft learner, polling the leader for its messages)
// keeps following the metadata log when the active controller's node is
// killed: it finds the new leader among the voters. Raft keeps a
// learner's last known leader until a new leader's messages reach it, and
// those wait at the new leader for the learner's poll, so a learner that
// only polled the leader it knew stayed on the dead one's last metadata.
func TestLearnerFollowsNewLeaderAfterControllerKilled(t *testing.T) {
	c := newTestCluster(t, 3, 1, nil)
	c.startAll()
	c.createTopicEventually(3, "before", 1, 3)
	c.waitForTopic("before", 1)
	ctl := c.activeController()
	c.stop(ctl, false)
	other := (ctl + 1) % 3
	c.createTopicEventually(other, "after", 2, 3)
	c.waitForTopic("after", 2) // the learner (node 4) too
}
