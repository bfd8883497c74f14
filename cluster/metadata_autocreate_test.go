package cluster

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSortAutoCreated(t *testing.T) {
	resp := kmsg.NewPtrCreateTopicsResponse()
	for _, c := range []struct {
		topic string
		code  int16
	}{
		{"made", 0},
		{"taken", kerr.TopicAlreadyExists.Code},
		{"refused", kerr.InvalidReplicationFactor.Code},
	} {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.ErrorCode = c.topic, c.code
		resp.Topics = append(resp.Topics, rt)
	}
	a := SortAutoCreated(resp)
	if !slices.Equal(a.Created, []string{"made"}) || !slices.Equal(a.Taken, []string{"taken"}) {
		t.Fatalf("created %v, taken %v", a.Created, a.Taken)
	}
	// A taken topic is not waited for: the image may never hold it (a
	// deleted topic whose replicas are still being removed).
	img := NewMetadataImage()
	if a.Holds(img) {
		t.Fatal("holds without the created topic")
	}
	img = applied(t, img, topicRecords("made", TopicID{1}, 1)...)
	if !a.Holds(img) {
		t.Fatal("does not hold once the created topic is in the image")
	}
	for name, want := range map[string]int16{
		"taken":   kerr.LeaderNotAvailable.Code,
		"refused": kerr.UnknownTopicOrPartition.Code,
		"made":    kerr.UnknownTopicOrPartition.Code,
	} {
		if got := a.MissingCode(name); got != want {
			t.Errorf("%s: code %d, want %d", name, got, want)
		}
	}
}
