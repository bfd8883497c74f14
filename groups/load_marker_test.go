package groups

import (
	"reflect"
	"testing"

	"gregor/logstore/internaltopic"
)

// A marker the shell hears of while the coordinator loads is in the log
// after what the load replayed so far; applied at once, it would end the
// producer's transaction the load is in the middle of, whose own marker
// (an abort here) the load has not reached. The core leaves it to the load.
func TestMarkerHeardWhileLoading(t *testing.T) {
	producer := &Producer{ID: 7}
	offset := func(tp topicPartition, o int64) []internaltopic.Record {
		return offsetCommitRecords("g", []plannedCommit{{tp: tp, entry: offsetEntry{offset: o, leaderEpoch: -1}}})
	}
	log := []testBatch{
		{records: offset(topicPartition{"a", 0}, 5), producer: producer},
		{producer: producer, marker: true, commit: false},
		{records: offset(topicPartition{"a", 1}, 9), producer: producer},
		{producer: producer, marker: true, commit: true},
	}
	var tail []byte
	for i, b := range log[1:] {
		tail = append(tail, b.encode(int64(i+1), 0)...)
	}
	c := NewCoordinator(Config{Entropy: &countingReader{}})
	if next, err := c.Load(log[0].encode(0, 0), 0); err != nil || next != 1 {
		t.Fatalf("load of the first batch: %d, %v", next, err)
	}
	// The commit marker at offset 3 was written; its news comes before
	// the load reads it.
	c.TransactionMarker(producer.ID, true)
	if next, err := c.Load(tail, 1); err != nil || next != 4 {
		t.Fatalf("load of the rest: %d, %v", next, err)
	}
	c.Loaded(internaltopic.Time{})
	want := []CommittedOffset{{Group: "g", Topic: "a", Partition: 1, Offset: 9}}
	if got := c.CommittedOffsets(); !reflect.DeepEqual(got, want) {
		t.Fatalf("committed offsets %+v, want %+v (a/0's transaction was aborted)", got, want)
	}
	// Once loaded, the news of a marker applies at once.
	c2 := NewCoordinator(Config{Entropy: &countingReader{}})
	if _, err := c2.Load(log[0].encode(0, 0), 0); err != nil {
		t.Fatal(err)
	}
	c2.Loaded(internaltopic.Time{})
	c2.TransactionMarker(producer.ID, true)
	want = []CommittedOffset{{Group: "g", Topic: "a", Partition: 0, Offset: 5}}
	if got := c2.CommittedOffsets(); !reflect.DeepEqual(got, want) {
		t.Fatalf("committed offsets %+v, want %+v", got, want)
	}
}
