package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// belowMinISRHint says why acks=all records timed out when the topic shows
// the cause: partitions whose ISR is smaller than the topic's
// min.insync.replicas refuse them with NOT_ENOUGH_REPLICAS, which kgo
// retries until the delivery timeout and then reports only as a timeout.
// It returns "" for other errors or when no partition is below the minimum.
func belowMinISRHint(ctx context.Context, cl *kgo.Client, topic string, err error) string {
	if !errors.Is(err, kgo.ErrRecordTimeout) {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, learnTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	configs, cerr := adm.DescribeTopicConfigs(ctx, topic)
	if cerr != nil {
		return ""
	}
	rc, cerr := configs.On(topic, nil)
	if cerr != nil || rc.Err != nil {
		return ""
	}
	minISR := 0
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" && c.Value != nil {
			minISR, _ = strconv.Atoi(*c.Value)
		}
	}
	md, merr := adm.Metadata(ctx, topic)
	if merr != nil {
		return ""
	}
	var below []int32
	for _, p := range md.Topics[topic].Partitions.Sorted() {
		if len(p.ISR) < minISR {
			below = append(below, p.Partition)
		}
	}
	if len(below) == 0 {
		return ""
	}
	return fmt.Sprintf("\n%s partitions %v have fewer in-sync replicas than the topic's min.insync.replicas (%d): "+
		"their leaders refuse acks=all records with NOT_ENOUGH_REPLICAS until enough replicas are in sync "+
		"(gregor topic describe %s shows the ISR; --acks 1 does not wait for them)", topic, below, minISR, topic)
}
