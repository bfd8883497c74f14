package actors

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// failoverProbe measures a failover as a client with no retry policy of
// its own sees it: it sends acks=all writes of one record to partition 0,
// each to the leader that a surviving node's metadata names, until one
// succeeds.
type failoverProbe struct {
	c       *testCluster
	topic   string
	clients map[string]*kgo.Client
	acked   []ackedRecord
}

// writeAfter writes value once the new leader takes it, asking node
// observer (a survivor) where partition 0's leader is, and returns when
// the write was acknowledged.
func (p *failoverProbe) writeAfter(observer int, victim int32, value string) time.Time {
	t := p.c.t
	t.Helper()
	var at time.Time
	waitFor(t, 30*time.Second, "a probe's acks=all write after the failover", func() bool {
		// What a Metadata request to the observer would answer.
		tp, ok := p.c.node(observer).routes.load().image.Topic(p.topic)
		if !ok || tp.Partitions[0].Leader < 0 || tp.Partitions[0].Leader == victim {
			return false
		}
		leader := p.c.node(int(tp.Partitions[0].Leader - 1))
		if leader == nil {
			return false
		}
		offset, err := p.produce(leader.Addr().String(), tp.ID, value)
		if err != nil {
			return false
		}
		at = time.Now()
		p.acked = append(p.acked, ackedRecord{partition: 0, offset: offset, value: value})
		return true
	})
	return at
}

// produce sends one acks=all Produce of one record to partition 0 at addr.
func (p *failoverProbe) produce(addr string, topicID [16]byte, value string) (int64, error) {
	cl := p.clients[addr]
	if cl == nil {
		var err error
		if cl, err = kgo.NewClient(kgo.SeedBrokers(addr)); err != nil {
			return 0, err
		}
		p.clients[addr] = cl
	}
	return rawProduce(cl, p.topic, topicID, 0, value)
}

// rawProduce sends one Produce of one record, with a 1 s timeout, to the
// first seed broker of cl, and returns the record's offset or the
// partition's error (franz-go's producer would retry NOT_ENOUGH_REPLICAS;
// this shows it). The acks are cl's (franz-go sets them on every Produce).
func rawProduce(cl *kgo.Client, topic string, topicID [16]byte, partition int32, value string) (int64, error) {
	b := kmsg.RecordBatch{Magic: 2, NumRecords: 1, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	// A record's length prefix counts the bytes after it (zero-length
	// prefix, one byte, encoded first and replaced).
	rest := (&kmsg.Record{Value: []byte(value)}).AppendTo(nil)[1:]
	b.Records = append(binary.AppendVarint(nil, int64(len(rest))), rest...)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	req := kmsg.NewPtrProduceRequest()
	req.TimeoutMillis = 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("produce answered %+v", resp)
	}
	if r := resp.Topics[0].Partitions[0]; r.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(r.ErrorCode)
	} else {
		return r.BaseOffset, nil
	}
}
