package cluster

import (
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ControllerConfig is what the controller core is told when it starts.
type ControllerConfig struct {
	// NodeID is the node the controller runs on. Until brokers register
	// with the controller, it is the one broker a broker config resource
	// may name.
	NodeID int32
	// NumPartitions is num.partitions: the partition count of auto-created
	// topics and of CreateTopics without one.
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor.
	DefaultReplicationFactor int16
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool
	// StaticBrokerConfigs are server.properties by Kafka key: the broker
	// defaults a CreateTopics answer shows for configs a topic does not set.
	StaticBrokerConfigs map[string]string
	// Entropy is the controller's only source of randomness: topic ids and
	// where placement starts.
	Entropy io.Reader
}

// MaxPartitionsPerTopic bounds the partitions one request can create.
const MaxPartitionsPerTopic = 10_000

// Controller decides every change of the metadata: it validates a request
// against the metadata image, places replicas, and returns the metadata
// records to commit and the answer to send once they are committed. It
// changes nothing itself: the image moves on only when the caller replays
// committed records (Replay), as every broker applies them.
//
// It has no I/O, clock or goroutines; the caller serialises every call.
type Controller struct {
	cfg     ControllerConfig
	image   *MetadataImage
	brokers []int32
	// deleting maps a deleted topic's name to the brokers that have not yet
	// stopped and deleted its replicas; the name cannot be reused until
	// they have.
	deleting map[string][]int32
}

// NewController starts a controller over the committed image, placing
// replicas on brokers.
func NewController(cfg ControllerConfig, image *MetadataImage, brokers []int32) *Controller {
	c := &Controller{cfg: cfg, image: image, deleting: map[string][]int32{}}
	c.SetBrokers(brokers)
	return c
}

// SetBrokers tells the controller which brokers can hold replicas.
func (c *Controller) SetBrokers(brokers []int32) {
	c.brokers = slices.Compact(slices.Sorted(slices.Values(brokers)))
}

// Image is the committed image the controller decides against.
func (c *Controller) Image() *MetadataImage { return c.image }

// ControllerResult is the outcome of a request: records to commit, then the
// answer.
type ControllerResult struct {
	// Records are the metadata records to commit, in order, together; none
	// when the request changes nothing (it failed, or only validated).
	Records []MetadataRecord
	// Response answers the request once Records are committed (at once when
	// there are none); nil for AutoCreateTopics.
	Response kmsg.Response
	// Refused lists the topics AutoCreateTopics did not create, and why.
	Refused []TopicRefusal
	// failed builds the answer when the records cannot be committed.
	failed func(err error) kmsg.Response
}

// TopicRefusal is a topic the controller refused to create, and why.
type TopicRefusal struct {
	Topic  string
	Reason string
}

// FailedResponse answers the request when Records could not be committed:
// every part that needed them fails with KAFKA_STORAGE_ERROR.
func (r ControllerResult) FailedResponse(err error) kmsg.Response {
	if r.failed == nil {
		return r.Response
	}
	return r.failed(err)
}

// Handle decides a request that changes metadata: CreateTopics,
// DeleteTopics, CreatePartitions, AlterConfigs or IncrementalAlterConfigs.
// It reports false for any other request.
func (c *Controller) Handle(req kmsg.Request) (ControllerResult, bool) {
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		return c.CreateTopics(r), true
	case *kmsg.DeleteTopicsRequest:
		return c.DeleteTopics(r), true
	case *kmsg.CreatePartitionsRequest:
		return c.CreatePartitions(r), true
	case *kmsg.AlterConfigsRequest:
		return c.AlterConfigs(r), true
	case *kmsg.IncrementalAlterConfigsRequest:
		return c.IncrementalAlterConfigs(r), true
	}
	return ControllerResult{}, false
}

// Replay applies committed records to the controller's image and returns
// the new image.
func (c *Controller) Replay(recs []MetadataRecord) (*MetadataImage, error) {
	next, err := c.image.Apply(recs...)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if r, ok := rec.(RemoveTopicRecord); ok {
			if t, ok := c.image.TopicByID(r.TopicID); ok {
				c.deleting[t.Name] = hostingBrokers(t)
			}
		}
	}
	c.image = next
	return next, nil
}

// TopicDeletionCompleted reports that broker stopped and deleted its
// replicas of a deleted topic.
func (c *Controller) TopicDeletionCompleted(topic string, broker int32) {
	left, ok := c.deleting[topic]
	if !ok {
		return
	}
	left = slices.DeleteFunc(left, func(b int32) bool { return b == broker })
	if len(left) == 0 {
		delete(c.deleting, topic)
		return
	}
	c.deleting[topic] = left
}

// hostingBrokers lists the brokers holding a replica of t, sorted.
func hostingBrokers(t *TopicImage) []int32 {
	var out []int32
	for _, p := range t.Partitions {
		out = append(out, p.Replicas...)
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// apiError is a Kafka error code with the message a client is shown.
type apiError struct {
	code int16
	msg  string
}

func newAPIError(err *kerr.Error, format string, args ...any) *apiError {
	return &apiError{code: err.Code, msg: fmt.Sprintf(format, args...)}
}

// mustApply applies records the controller has just validated to its
// working image; failing is a bug in the validation.
func mustApply(w *MetadataImage, recs []MetadataRecord) *MetadataImage {
	next, err := w.Apply(recs...)
	if err != nil {
		panic(fmt.Sprintf("controller: validated records do not apply: %v", err))
	}
	return next
}

// newTopicID draws a topic id that is not zero and not in use.
func (c *Controller) newTopicID(w *MetadataImage) (TopicID, error) {
	for range 8 {
		var id TopicID
		if _, err := io.ReadFull(c.cfg.Entropy, id[:]); err != nil {
			return id, err
		}
		if _, used := w.TopicByID(id); !used && id != (TopicID{}) {
			return id, nil
		}
	}
	return TopicID{}, fmt.Errorf("no unused topic id in 8 draws")
}

// randomIndex draws an index below n from the entropy; with one choice or
// none it draws nothing.
func (c *Controller) randomIndex(n int) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	var b [4]byte
	if _, err := io.ReadFull(c.cfg.Entropy, b[:]); err != nil {
		return 0, err
	}
	return int((uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) % uint32(n)), nil
}
