package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lat TOPIC NODE: produce (raw, acks=all) to partition 0 via broker NODE every 5 ms; after 1 s, elect preferred; print latencies around the change.
func lat(args []string) {
	topic := args[0]
	node, _ := strconv.Atoi(args[1])
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers()...))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	b := cl.Broker(node)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		log.Fatal(err)
	}
	tid := md.Topics[topic].ID
	go func() {
		time.Sleep(time.Second)
		t0 := time.Now()
		if len(args) > 2 {
			pid, _ := os.ReadFile(args[2])
			p, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
			syscall.Kill(p, syscall.SIGKILL)
			fmt.Printf("%s killed %d\n", t0.Format("15:04:05.000"), p)
			return
		}
		_, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		fmt.Printf("%s elect returned after %s err=%v\n", time.Now().Format("15:04:05.000"), time.Since(t0), err)
	}()
	end := time.Now().Add(3 * time.Second)
	prevOK := false
	n := 0
	for time.Now().Before(end) {
		rec := kmsg.Record{Value: []byte("x")}
		_ = rec
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, tid
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = 0
		rp.Records = batch(n)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		t0 := time.Now()
		resp, err := req.RequestWith(ctx, b)
		d := time.Since(t0)
		code := int16(-99)
		if err == nil {
			code = resp.Topics[0].Partitions[0].ErrorCode
		}
		ok := code == 0
		if ok != prevOK || d > 20*time.Millisecond {
			fmt.Printf("%s produce #%d %s code=%v err=%v\n", t0.Format("15:04:05.000"), n, d.Round(100*time.Microsecond), kerr.ErrorForCode(code), err)
		}
		prevOK = ok
		n++
		time.Sleep(5 * time.Millisecond)
	}
}

func fixBatch(raw []byte) []byte {
	binary.BigEndian.PutUint32(raw[8:12], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func batch(n int) []byte {
	r := kmsg.NewRecord()
	r.Value = []byte(fmt.Sprint(n))
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	rb := kmsg.RecordBatch{FirstOffset: 0, Magic: 2, LastOffsetDelta: 0, FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1}
	rb.Records = r.AppendTo(nil)
	raw := rb.AppendTo(nil)
	// fix length and crc
	return fixBatch(raw)
}
