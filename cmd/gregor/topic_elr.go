package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// eligibleReplicas are a partition's eligible leader replicas (KIP-966)
// and its last known ones, as DescribeTopicPartitions tells them.
type eligibleReplicas struct{ elr, lastKnown []int32 }

// describeEligible asks DescribeTopicPartitions for the eligible leader
// replicas of topics' partitions, following its cursor. It returns nil when
// the broker does not answer it (one older than Kafka 3.8's API), and
// describe then prints "-" for them.
func describeEligible(ctx context.Context, cl *kgo.Client, topics []string) map[string]map[int32]eligibleReplicas {
	out := map[string]map[int32]eligibleReplicas{}
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, name := range topics {
		t := kmsg.NewDescribeTopicPartitionsRequestTopic()
		t.Topic = name
		req.Topics = append(req.Topics, t)
	}
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil
		}
		for _, t := range resp.Topics {
			if t.ErrorCode != 0 || t.Topic == nil {
				continue
			}
			parts := out[*t.Topic]
			if parts == nil {
				parts = map[int32]eligibleReplicas{}
				out[*t.Topic] = parts
			}
			for _, p := range t.Partitions {
				parts[p.Partition] = eligibleReplicas{elr: p.EligibleLeaderReplicas, lastKnown: p.LastKnownELR}
			}
		}
		if resp.NextCursor == nil {
			return out
		}
		req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
}

// eligibleText is how describe prints a partition's eligible leader
// replicas and last known ones: "-" where they are unknown.
func (desc topicDescription) eligibleText(topic string, partition int32) (string, string) {
	e, ok := desc.eligible[topic][partition]
	if !ok {
		return "-", "-"
	}
	return fmt.Sprint(e.elr), fmt.Sprint(e.lastKnown)
}
