package actors

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

// producePartition asks a partition actor to append the records of one
// partition of a Produce request. reply is called exactly once, unless acks is
// 0 (then never).
type producePartition struct {
	records   []byte
	acks      int16
	timeoutMs int32
	reply     func(producePartitionResult)
}

// producePartitionResult is one partition's answer to a Produce request.
type producePartitionResult struct {
	errorCode       int16
	errorMessage    string
	baseOffset      int64
	logAppendTimeMs int64
	logStartOffset  int64
}

// produceMerge collects the partition answers of one Produce request and
// responds when the last one is in.
type produceMerge struct {
	mu      sync.Mutex
	resp    *kmsg.ProduceResponse
	pending int
	respond func(kmsg.Response)
}

func (m *produceMerge) set(ti, pi int, res producePartitionResult) {
	m.mu.Lock()
	p := &m.resp.Topics[ti].Partitions[pi]
	p.ErrorCode = res.errorCode
	if res.errorMessage != "" {
		msg := res.errorMessage
		p.ErrorMessage = &msg
	}
	p.BaseOffset, p.LogAppendTime, p.LogStartOffset = res.baseOffset, res.logAppendTimeMs, res.logStartOffset
	m.pending--
	done := m.pending == 0
	m.mu.Unlock()
	if done {
		m.respond(m.resp)
	}
}

func (r *router) produce(req *netio.Request, body *kmsg.ProduceRequest, respond func(kmsg.Response)) {
	rt := r.node.routes.load()
	resp := body.ResponseKind().(*kmsg.ProduceResponse)
	merge := &produceMerge{resp: resp, respond: respond}
	type send struct {
		ti, pi int
		msg    *producePartition
		pidIdx int32
		topic  string
	}
	var sends []send
	if body.TransactionID != nil {
		// Transactions come with their own issue; a client only sends a
		// transactional Produce after InitProducerID, which is not served
		// yet, so this request is malformed.
		r.failProduce(body, resp, kerr.InvalidRequest.Code, respond)
		return
	}
	for ti, t := range body.Topics {
		rtopic := kmsg.NewProduceResponseTopic()
		rtopic.Topic, rtopic.TopicID = t.Topic, t.TopicID
		name := t.Topic
		topic, ok := rt.image.Topic(name)
		if body.Version >= 13 {
			topic, ok = rt.image.TopicByID(t.TopicID)
			if ok {
				name = topic.Name
			}
		}
		for pi, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case !ok && body.Version >= 13:
				rp.ErrorCode = kerr.UnknownTopicID.Code
			case !ok || p.Partition < 0 || p.Partition >= topic.Partitions:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rt.partition(name, p.Partition) == nil:
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				merge.pending++
				sends = append(sends, send{ti: ti, pi: pi, topic: name, pidIdx: p.Partition, msg: &producePartition{
					records: p.Records, acks: body.Acks, timeoutMs: body.TimeoutMillis,
				}})
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	if body.Acks == 0 {
		// The client wants no answer; the appends still happen.
		respond(nil)
		for _, s := range sends {
			r.node.system.Root.Send(rt.partition(s.topic, s.pidIdx), s.msg)
		}
		return
	}
	if merge.pending == 0 {
		respond(resp)
		return
	}
	for _, s := range sends {
		s := s
		s.msg.reply = func(res producePartitionResult) { merge.set(s.ti, s.pi, res) }
		r.node.system.Root.Send(rt.partition(s.topic, s.pidIdx), s.msg)
	}
}

func (r *router) failProduce(body *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16, respond func(kmsg.Response)) {
	for _, t := range body.Topics {
		rtopic := kmsg.NewProduceResponseTopic()
		rtopic.Topic, rtopic.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	if body.Acks == 0 {
		respond(nil)
		return
	}
	respond(resp)
}
