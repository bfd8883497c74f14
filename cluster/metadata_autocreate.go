package cluster

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AutoCreated sorts the controller's answer to the CreateTopics a broker
// sends for the missing topics a Metadata request names when topics are
// created automatically (auto.create.topics.enable).
type AutoCreated struct {
	// Created are the topics the controller created: the Metadata answer
	// waits until the broker's image holds them.
	Created []string
	// Taken are the topics refused as TOPIC_ALREADY_EXISTS: created
	// meanwhile by another request, or deleted and still being removed from
	// the brokers (the controller keeps the name until they are done). The
	// answer does not wait for them, as the image may never hold them; one
	// the image lacks is reported LEADER_NOT_AVAILABLE, as Kafka reports
	// every topic it is creating automatically, so that clients ask again
	// (and a next Metadata creates it once its old replicas are gone).
	Taken []string
}

// SortAutoCreated reads the answer to an automatic CreateTopics; topics
// refused for any other reason are in neither list (the Metadata answer
// reports them from the image: UNKNOWN_TOPIC_OR_PARTITION).
func SortAutoCreated(resp *kmsg.CreateTopicsResponse) AutoCreated {
	var a AutoCreated
	for _, t := range resp.Topics {
		switch t.ErrorCode {
		case 0:
			a.Created = append(a.Created, t.Topic)
		case kerr.TopicAlreadyExists.Code:
			a.Taken = append(a.Taken, t.Topic)
		}
	}
	return a
}

// Holds says whether img holds every created topic.
func (a AutoCreated) Holds(img *MetadataImage) bool {
	for _, name := range a.Created {
		if _, ok := img.Topic(name); !ok {
			return false
		}
	}
	return true
}

// MissingCode is the error code of a named topic the image lacks when the
// Metadata request is answered.
func (a AutoCreated) MissingCode(name string) int16 {
	if slices.Contains(a.Taken, name) {
		return kerr.LeaderNotAvailable.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}
