package groups

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerConfig holds the settings of KIP-848 consumer groups.
type ConsumerConfig struct {
	SessionTimeoutMs    int32
	HeartbeatIntervalMs int32
}

func (c ConsumerConfig) withDefaults() ConsumerConfig { return c }

// consumerGroup is the state of a KIP-848 consumer group.
type consumerGroup struct {
	members map[string]struct{}
}

func (cg *consumerGroup) nextDeadlineMs() int64          { return math.MaxInt64 }
func (cg *consumerGroup) subscribedTo(topic string) bool { return false }

func (c *Coordinator) consumerHeartbeat(id RequestID, req *kmsg.ConsumerGroupHeartbeatRequest, _ Client, _ Time) {
	c.reply(id, ErrorResponse(req, kerr.UnsupportedVersion.Code))
}

func (c *Coordinator) consumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	return ErrorResponse(req, kerr.UnsupportedVersion.Code)
}

func (c *Coordinator) consumerTick(*group, Time)     {}
func (c *Coordinator) convertToClassic(*group, Time) {}
func (c *Coordinator) validateConsumerOffsetCommit(*group, string, int32) int16 {
	return kerr.UnknownMemberID.Code
}
func (c *Coordinator) validateConsumerOffsetFetch(*group, string, int32) int16 { return 0 }
func (c *Coordinator) consumerGroupTombstones(*group) []Record                 { return nil }
func (c *Coordinator) replayConsumerRecord(int16, Record)                      {}
func (c *Coordinator) consumerGroupLoaded(*group, Time)                        {}
func (c *Coordinator) topicsChanged(Time)                                      {}
