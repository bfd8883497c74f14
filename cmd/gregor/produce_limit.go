package main

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoDefaultBatchMaxBytes is kgo's own cap on a record batch (Kafka's old
// default message.max.bytes), kept for a topic whose limit is not known.
const kgoDefaultBatchMaxBytes = 1_000_012

// batchLimit is the largest record batch produce and perf produce build for
// their topic: the topic's max.message.bytes once learned. Without it kgo
// refuses on its own any record over about 1 MB, with an error that blames
// the server, even where the topic takes larger records (as Kafka's producer
// does unless max.request.size is raised).
type batchLimit struct{ bytes atomic.Int32 }

func newBatchLimit() *batchLimit {
	l := &batchLimit{}
	l.bytes.Store(kgoDefaultBatchMaxBytes)
	return l
}

// opt is the producer option that reads the limit. kgo asks it when it first
// meets a partition of the topic, so learn must run before the first Produce.
func (l *batchLimit) opt() kgo.Opt {
	return kgo.ProducerBatchMaxBytesFn(func(string) int32 { return l.bytes.Load() })
}

// learnTimeout bounds learn: past it the producer keeps kgo's default.
const learnTimeout = 5 * time.Second

// learn sets the limit to the topic's max.message.bytes, as its brokers
// report it (the topic's own value or the broker default). A topic that does
// not exist yet (produce creates it) or a failed request keeps kgo's default.
func (l *batchLimit) learn(ctx context.Context, cl *kgo.Client, topic string) {
	// A cluster slow to answer delays the first record at most this long.
	ctx, cancel := context.WithTimeout(ctx, learnTimeout)
	defer cancel()
	configs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return
	}
	rc, err := configs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return
	}
	for _, c := range rc.Configs {
		if c.Key != "max.message.bytes" || c.Value == nil {
			continue
		}
		v, err := strconv.ParseInt(*c.Value, 10, 64)
		if err != nil {
			return
		}
		// kgo takes 512 B to 1 GiB.
		l.bytes.Store(int32(min(max(v, 512), 1<<30)))
	}
}
