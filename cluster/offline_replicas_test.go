package cluster

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Directory ids differ by topic and by partition, and stay the same for
// the same replica.
func TestPartitionDirectoryID(t *testing.T) {
	a, b := TopicID{1}, TopicID{2}
	seen := map[[16]byte]bool{}
	for _, topic := range []TopicID{a, b} {
		for p := range int32(100) {
			id := PartitionDirectoryID(topic, p)
			if seen[id] {
				t.Fatalf("topic %v partition %d: id %x taken", topic, p, id)
			}
			seen[id] = true
		}
	}
	if first, again := PartitionDirectoryID(a, 7), PartitionDirectoryID(a, 7); first != again {
		t.Fatal("the id of one replica changed")
	}
}

// A broker's heartbeats carry its offline replicas' directory ids, sorted,
// until the set is emptied.
func TestBrokerLifecycleReportsOfflineDirectories(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.SetClusterID("c")
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 40), nil)
	hb := r.sent().(*kmsg.BrokerHeartbeatRequest)
	if len(hb.OfflineLogDirs) != 0 {
		t.Fatalf("offline dirs %x before any", hb.OfflineLogDirs)
	}
	r.answer(heartbeatAnswer(0, false, false), nil)
	x, y := PartitionDirectoryID(TopicID{1}, 0), PartitionDirectoryID(TopicID{1}, 1)
	r.b.SetOfflineDirectories([][16]byte{x, y})
	r.tickTo(500)
	hb = r.sent().(*kmsg.BrokerHeartbeatRequest)
	want := [][16]byte{x, y}
	slices.SortFunc(want, func(p, q [16]byte) int { return slices.Compare(p[:], q[:]) })
	if !slices.Equal(hb.OfflineLogDirs, want) {
		t.Fatalf("offline dirs %x, want %x", hb.OfflineLogDirs, want)
	}
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.b.SetOfflineDirectories(nil)
	r.tickTo(1000)
	if hb = r.sent().(*kmsg.BrokerHeartbeatRequest); len(hb.OfflineLogDirs) != 0 {
		t.Fatalf("offline dirs %x after the set emptied", hb.OfflineLogDirs)
	}
}

// A directory newly offline is reported at once, not a heartbeat interval
// later; one that goes offline while a heartbeat is out goes in the next,
// sent as soon as that one is answered.
func TestBrokerLifecycleReportsNewOfflineDirectoryAtOnce(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.SetClusterID("c")
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 40), nil)
	r.sent()
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.quiet()
	x, y := PartitionDirectoryID(TopicID{1}, 0), PartitionDirectoryID(TopicID{1}, 1)
	r.tickTo(100)
	r.quiet()
	r.b.SetOfflineDirectories([][16]byte{x})
	if d, ok := r.b.NextDeadline(); !ok || d != 100 {
		t.Fatalf("next deadline %d (%t) after a directory went offline at 100 ms, want 100", d, ok)
	}
	r.tickTo(100)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); !slices.Equal(hb.OfflineLogDirs, [][16]byte{x}) {
		t.Fatalf("offline dirs %x, want %x", hb.OfflineLogDirs, x)
	}
	r.now = 120
	r.b.SetOfflineDirectories([][16]byte{x, y})
	r.answer(heartbeatAnswer(0, false, false), nil)
	hb := r.sent().(*kmsg.BrokerHeartbeatRequest)
	if len(hb.OfflineLogDirs) != 2 {
		t.Fatalf("offline dirs %x at 120 ms, want both", hb.OfflineLogDirs)
	}
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.b.SetOfflineDirectories([][16]byte{y})
	r.quiet()
	if d, _ := r.b.NextDeadline(); d != 620 {
		t.Fatalf("next deadline %d after a directory came back, want the interval's 620", d)
	}
}

// A heartbeat's offline directories become a record of the broker's
// registration only once the cluster finalized gregor.replication.version
// 2, only when they changed, and the image then answers ReplicaOffline.
func TestOfflineDirsRecorded(t *testing.T) {
	dir := PartitionDirectoryID(TopicID{1}, 3)
	for _, level := range []int16{1, 2} {
		m := applied(t, NewMetadataImage(), FeatureLevelRecord{Name: ReplicationVersionFeature, FeatureLevel: level},
			RegisterBrokerRecord{BrokerID: 1, IncarnationID: IncarnationID{1}, BrokerEpoch: 2})
		b, _ := m.Broker(1)
		recs := offlineDirsRecords(m, b, [][16]byte{dir})
		if level < OfflineReplicasRecordedLevel {
			if len(recs) != 0 {
				t.Fatalf("level %d: records %v", level, recs)
			}
			continue
		}
		if len(recs) != 1 {
			t.Fatalf("level %d: records %v, want one", level, recs)
		}
		m = applied(t, m, recs...)
		if !m.ReplicaOffline(1, TopicID{1}, 3) || m.ReplicaOffline(1, TopicID{1}, 4) || m.ReplicaOffline(2, TopicID{1}, 3) {
			t.Fatal("ReplicaOffline does not answer from the recorded directories")
		}
		if in := m.ISRIneligibleReplicas(TopicID{1}, 3); !slices.Equal(in, []int32{1}) {
			t.Fatalf("ISR-ineligible replicas of the offline partition %v, want [1]", in)
		}
		if in := m.ISRIneligibleReplicas(TopicID{1}, 4); len(in) != 0 {
			t.Fatalf("ISR-ineligible replicas of another partition %v, want none", in)
		}
		b, _ = m.Broker(1)
		if recs := offlineDirsRecords(m, b, [][16]byte{dir}); len(recs) != 0 {
			t.Fatalf("records %v for an unchanged set", recs)
		}
		back, err := ImageFromSnapshot(m.Epoch, m.SnapshotRecords())
		if err != nil || !back.ReplicaOffline(1, TopicID{1}, 3) {
			t.Fatalf("the snapshot lost the offline directories (%v)", err)
		}
		if down := applied(t, m, FeatureLevelRecord{Name: ReplicationVersionFeature, FeatureLevel: 1}); down.ReplicaOffline(1, TopicID{1}, 3) {
			t.Fatal("offline directories kept below the level that records them")
		}
		m = applied(t, m, offlineDirsRecords(m, b, nil)...)
		if m.ReplicaOffline(1, TopicID{1}, 3) {
			t.Fatal("offline after the broker reported none")
		}
	}
}
