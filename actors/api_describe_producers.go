package actors

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeProducersPartition asks a partition actor for its active
// producers; reply runs once.
type describeProducersPartition struct {
	reply func(kmsg.DescribeProducersResponseTopicPartition)
}

// answerUndelivered answers for a partition actor that stopped.
func (m *describeProducersPartition) answerUndelivered() {
	rp := kmsg.NewDescribeProducersResponseTopicPartition()
	rp.ErrorCode = kerr.NotLeaderForPartition.Code
	m.reply(rp)
}

// describeProducers is a partition leader's answer: every producer id its
// producer state holds, with its epoch, last sequence and time, the epoch of
// the coordinator of its last marker and the start of its open transaction.
func (a *partitionActor) describeProducers(msg *describeProducersPartition) {
	rp := kmsg.NewDescribeProducersResponseTopicPartition()
	if !a.core.IsLeader() {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		msg.reply(rp)
		return
	}
	st := a.core.Producers()
	for _, id := range st.IDs() {
		e, _ := st.Get(id)
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = e.ProducerID, int32(e.ProducerEpoch), e.LastSequence()
		ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = e.LastTimestamp, e.CoordinatorEpoch, e.TxnFirstOffset
		rp.ActiveProducers = append(rp.ActiveProducers, ap)
	}
	msg.reply(rp)
}

// describeProducersWait bounds how long the router waits for a partition.
const describeProducersWait = 10 * time.Second

// describeProducers serves DescribeProducers (API 61): each partition's
// leader lists its active producers.
func (r *router) describeProducers(body *kmsg.DescribeProducersRequest, respond func(kmsg.Response)) {
	rt := r.node.routes.load()
	resp := body.ResponseKind().(*kmsg.DescribeProducersResponse)
	fo := &fanOut[kmsg.DescribeProducersResponseTopicPartition]{}
	for ti, t := range body.Topics {
		rtopic := kmsg.NewDescribeProducersResponseTopic()
		rtopic.Topic = t.Topic
		topic, ok := rt.lookupTopic(t.Topic, [16]byte{}, false)
		for pi, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			pid, code := rt.route(topic, ok, false, p)
			rp.ErrorCode = code
			if code == 0 {
				rp.ErrorCode = kerr.RequestTimedOut.Code
				fo.ask(pid, func(res kmsg.DescribeProducersResponseTopicPartition) {
					res.Partition = p
					resp.Topics[ti].Partitions[pi] = res
				}, func(reply func(kmsg.DescribeProducersResponseTopicPartition)) any {
					return &describeProducersPartition{reply: reply}
				})
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	fo.run(r.node.system.Root, describeProducersWait, func() { respond(resp) })
}
