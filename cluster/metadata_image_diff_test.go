package cluster

import "testing"

// TestReconfigureAfterChanges: only settings that lower
// min.insync.replicas wait for the partition changes.
func TestReconfigureAfterChanges(t *testing.T) {
	at := func(minISR int) TopicSettings {
		return TopicSettings{Replica: ReplicaConfig{MinInsyncReplicas: minISR}}
	}
	for _, c := range []struct {
		old, next int
		after     bool
	}{{3, 2, true}, {2, 3, false}, {2, 2, false}} {
		if got := ReconfigureAfterChanges(at(c.old), at(c.next)); got != c.after {
			t.Errorf("min.insync.replicas %d → %d: after %t, want %t", c.old, c.next, got, c.after)
		}
	}
}
