package actors

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOffsetsPartition asks a partition actor for the offset of a timestamp
// (or of -1 latest, -2 earliest, -3 max timestamp, -4 earliest local, -5
// latest tiered, -6 earliest pending upload), checking the leader epoch.
type listOffsetsPartition struct {
	timestampMs        int64
	currentLeaderEpoch int32
	isolationLevel     int8
	reply              func(listOffsetsResult)
}

// listOffsetsResult is one partition's ListOffsets answer.
type listOffsetsResult struct {
	errorCode   int16
	timestampMs int64
	offset      int64
	leaderEpoch int32
}

// deleteRecordsPartition asks a partition actor to advance its log start
// offset to offset (-1: the high watermark), waiting up to timeoutMs (the
// request's) for its followers' to get there too.
type deleteRecordsPartition struct {
	offset    int64
	timeoutMs int32
	reply     func(deleteRecordsResult)
}

// deleteRecordsResult is one partition's DeleteRecords answer.
type deleteRecordsResult struct {
	errorCode    int16
	lowWatermark int64
}

// offsetsRequestTimeout bounds how long ListOffsets and DeleteRecords wait for
// a partition actor.
const offsetsRequestTimeout = 30 * time.Second

func (r *router) listOffsets(body *kmsg.ListOffsetsRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.ListOffsetsResponse)
	rt := r.node.routes.load()
	fo := &fanOut[listOffsetsResult]{}
	duplicated := duplicateListOffsetsPartitions(body)
	for ti, t := range body.Topics {
		rtopic := kmsg.NewListOffsetsResponseTopic()
		rtopic.Topic = t.Topic
		topic, ok := rt.image.Topic(t.Topic)
		for pi, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition, rp.Timestamp, rp.Offset, rp.ErrorCode = p.Partition, -1, -1, kerr.RequestTimedOut.Code
			pid, code := rt.route(topic, ok, false, p.Partition)
			switch {
			case duplicated[topicPartitionKey{t.Topic, p.Partition}]:
				rp.ErrorCode = kerr.InvalidRequest.Code
			case code == kerr.UnknownTopicOrPartition.Code:
				rp.ErrorCode = code
			case !listOffsetsTimestampAllowed(p.Timestamp, body.Version):
				rp.ErrorCode = kerr.UnsupportedVersion.Code
			case code != 0:
				rp.ErrorCode = code
			default:
				msg := listOffsetsPartition{timestampMs: p.Timestamp, currentLeaderEpoch: p.CurrentLeaderEpoch, isolationLevel: body.IsolationLevel}
				fo.ask(pid, func(res listOffsetsResult) {
					out := &resp.Topics[ti].Partitions[pi]
					out.ErrorCode, out.Timestamp, out.Offset, out.LeaderEpoch = res.errorCode, res.timestampMs, res.offset, res.leaderEpoch
				}, func(reply func(listOffsetsResult)) any { msg.reply = reply; return &msg })
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	fo.run(r.node.system.Root, offsetsRequestTimeout, func() { respond(resp) })
}

// topicPartitionKey names one partition of a topic.
type topicPartitionKey struct {
	topic     string
	partition int32
}

// duplicateListOffsetsPartitions are the partitions a ListOffsets request
// names more than once: each of their entries is answered INVALID_REQUEST,
// as Kafka answers them (a client could not tell two answers for one
// partition apart).
func duplicateListOffsetsPartitions(body *kmsg.ListOffsetsRequest) map[topicPartitionKey]bool {
	seen := map[topicPartitionKey]bool{}
	var dup map[topicPartitionKey]bool
	for _, t := range body.Topics {
		for _, p := range t.Partitions {
			k := topicPartitionKey{t.Topic, p.Partition}
			if seen[k] {
				if dup == nil {
					dup = map[topicPartitionKey]bool{}
				}
				dup[k] = true
			}
			seen[k] = true
		}
	}
	return dup
}

// listOffsetsTimestampAllowed reports whether a special timestamp exists in
// the request's version: -3 (max timestamp) from v7, -4 (earliest local)
// from v8, -5 (latest tiered) from v9, -6 (earliest pending upload) from v11.
// Other negative timestamps are refused by the partition.
func listOffsetsTimestampAllowed(timestampMs int64, version int16) bool {
	switch timestampMs {
	case -3:
		return version >= 7
	case -4:
		return version >= 8
	case -5:
		return version >= 9
	case -6:
		return version >= 11
	}
	return true
}

// deleteRecords answers each partition once, as Kafka's broker does: a
// partition the request names more than once (in one topic entry or in two
// entries of its topic) is deleted up to the offset its last entry gives, and
// a topic named in several entries is answered in one.
func (r *router) deleteRecords(body *kmsg.DeleteRecordsRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.DeleteRecordsResponse)
	rt := r.node.routes.load()
	fo := &fanOut[deleteRecordsResult]{}
	for ti, t := range mergeDeleteRecordsTopics(body.Topics) {
		rtopic := kmsg.NewDeleteRecordsResponseTopic()
		rtopic.Topic = t.Topic
		topic, ok := rt.image.Topic(t.Topic)
		for pi, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.LowWatermark, rp.ErrorCode = p.Partition, -1, kerr.RequestTimedOut.Code
			pid, code := rt.route(topic, ok, false, p.Partition)
			if code != 0 {
				rp.ErrorCode = code
			} else {
				msg := deleteRecordsPartition{offset: p.Offset, timeoutMs: body.TimeoutMillis}
				fo.ask(pid, func(res deleteRecordsResult) {
					out := &resp.Topics[ti].Partitions[pi]
					out.ErrorCode, out.LowWatermark = res.errorCode, res.lowWatermark
				}, func(reply func(deleteRecordsResult)) any { msg.reply = reply; return &msg })
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	fo.run(r.node.system.Root, offsetsRequestTimeout, func() { respond(resp) })
}

// mergeDeleteRecordsTopics returns the request's topics with each topic and
// each of its partitions once, in the order they first appear; a partition
// named more than once keeps the offset of its last entry (Kafka's broker
// collects the request into a map from partition to offset). A request
// without repeats is returned as it is.
func mergeDeleteRecordsTopics(topics []kmsg.DeleteRecordsRequestTopic) []kmsg.DeleteRecordsRequestTopic {
	seen := map[topicPartitionKey]bool{}
	topicSeen := map[string]bool{}
	repeated := false
	for _, t := range topics {
		repeated = repeated || topicSeen[t.Topic]
		topicSeen[t.Topic] = true
		for _, p := range t.Partitions {
			k := topicPartitionKey{t.Topic, p.Partition}
			repeated = repeated || seen[k]
			seen[k] = true
		}
	}
	if !repeated {
		return topics
	}
	var out []kmsg.DeleteRecordsRequestTopic
	topicAt := map[string]int{}
	partitionAt := map[topicPartitionKey]int{}
	for _, t := range topics {
		ti, ok := topicAt[t.Topic]
		if !ok {
			ti = len(out)
			topicAt[t.Topic] = ti
			merged := kmsg.NewDeleteRecordsRequestTopic()
			merged.Topic = t.Topic
			out = append(out, merged)
		}
		for _, p := range t.Partitions {
			k := topicPartitionKey{t.Topic, p.Partition}
			if pi, ok := partitionAt[k]; ok {
				out[ti].Partitions[pi].Offset = p.Offset
				continue
			}
			partitionAt[k] = len(out[ti].Partitions)
			out[ti].Partitions = append(out[ti].Partitions, p)
		}
	}
	return out
}
