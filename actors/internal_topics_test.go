package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestInternalTopics: only __consumer_offsets (and __transaction_state) are
// internal, as Kafka marks them; a client's Produce to one is refused with
// INVALID_TOPIC_EXCEPTION, while a topic merely named with "__" is a topic
// like any other.
func TestInternalTopics(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "__mine"); err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "__mine", 0, 3)
	// A group commit makes the coordinator create __consumer_offsets.
	if _, err := adm.CommitOffsets(ctx, "g", kadm.OffsetsFromRecords(kgo.Record{Topic: "__mine", Partition: 0, Offset: 2})); err != nil {
		t.Fatal(err)
	}
	details, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := details["__consumer_offsets"]; !ok || !d.IsInternal {
		t.Errorf("__consumer_offsets: listed %t, internal %t; want an internal topic", ok, d.IsInternal)
	}
	if d := details["__mine"]; d.IsInternal {
		t.Errorf("__mine is marked internal")
	}
	cl := newClient(t, n, kgo.RecordRetries(1))
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")})
	if err := res.FirstErr(); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}
