package actors

import (
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// maxRequestPartitionSizeLimit is Kafka's max.request.partition.size.limit:
// the most partitions one DescribeTopicPartitions response describes.
const maxRequestPartitionSizeLimit = 2000

// describeTopicPartitions answers DescribeTopicPartitions (KIP-966): the
// requested topics (every topic when none is named) in name order from the
// cursor on, at most ResponsePartitionLimit partitions, with a next cursor
// where the answer stops. An invalid cursor gets INVALID_REQUEST on every
// requested topic, as Kafka answers.
func (r *router) describeTopicPartitions(req *kmsg.DescribeTopicPartitionsRequest) *kmsg.DescribeTopicPartitionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	invalid := func() *kmsg.DescribeTopicPartitionsResponse {
		for _, t := range req.Topics {
			rtopic := kmsg.NewDescribeTopicPartitionsResponseTopic()
			rtopic.Topic, rtopic.ErrorCode = kmsg.StringPtr(t.Topic), kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, rtopic)
		}
		return resp
	}
	rt := r.node.routes.load()
	all := len(req.Topics) == 0
	cursorTopic, cursorPartition := "", int32(0)
	if req.Cursor != nil {
		cursorTopic, cursorPartition = req.Cursor.Topic, req.Cursor.Partition
		if cursorPartition < 0 {
			return invalid()
		}
	}
	var names []string
	if all {
		names = rt.image.TopicNames()
	} else {
		seen := map[string]bool{}
		for _, t := range req.Topics {
			if !seen[t.Topic] {
				seen[t.Topic] = true
				names = append(names, t.Topic)
			}
		}
		// The cursor's topic must be one of those asked for.
		if req.Cursor != nil && !seen[cursorTopic] {
			return invalid()
		}
	}
	sort.Strings(names)
	remaining := min(max(req.ResponsePartitionLimit, 1), maxRequestPartitionSizeLimit)
	for _, name := range names {
		if name < cursorTopic {
			continue
		}
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		t, ok := rt.image.Topic(name)
		if !ok {
			if all {
				continue
			}
			rtopic := kmsg.NewDescribeTopicPartitionsResponseTopic()
			rtopic.Topic = kmsg.StringPtr(name)
			rtopic.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if cluster.ValidateTopicName(name) != nil {
				rtopic.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, rtopic)
			continue
		}
		rtopic := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rtopic.Topic, rtopic.TopicID = kmsg.StringPtr(t.Name), t.ID
		rtopic.IsInternal = cluster.IsInternalTopic(t.Name)
		first := int32(0)
		if name == cursorTopic {
			first = cursorPartition
		}
		p := first
		for ; p < t.PartitionCount() && remaining > 0; p++ {
			rtopic.Partitions = append(rtopic.Partitions, r.describedPartition(rt, t, p))
			remaining--
		}
		resp.Topics = append(resp.Topics, rtopic)
		if p < t.PartitionCount() {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: p}
			break
		}
	}
	return resp
}

func (r *router) describedPartition(rt *routes, t *cluster.TopicImage, p int32) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	l := r.leadership(rt, t.Name, p)
	dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	dp.Partition, dp.ErrorCode, dp.Replicas = p, l.errorCode, l.replicas
	dp.LeaderID, dp.LeaderEpoch, dp.ISR, dp.OfflineReplicas = l.leader, l.leaderEpoch, l.isr, l.offline
	dp.EligibleLeaderReplicas, dp.LastKnownELR = []int32{}, []int32{}
	if p >= 0 && p < t.PartitionCount() {
		// The eligible leader replicas and the last known ones, as the
		// metadata image holds them (KIP-966).
		part := t.Partitions[p]
		dp.EligibleLeaderReplicas = append(dp.EligibleLeaderReplicas, part.ELR...)
		dp.LastKnownELR = append(dp.LastKnownELR, part.LastKnownELR...)
	}
	return dp
}

// Config resource types (Kafka's ConfigResource.Type).
const (
	configResourceTopic         int8 = 2
	configResourceBroker        int8 = 4
	configResourceBrokerLogger  int8 = 8
	configResourceClientMetrics int8 = 16
	configResourceGroup         int8 = 32
)

// listConfigResources answers ListConfigResources (KIP-1142; v0 was
// ListClientMetricsResources): the resources of the asked types that have
// configs here. Client-metrics subscriptions, group configs and broker
// loggers do not exist yet, so they list nothing.
func (r *router) listConfigResources(req *kmsg.ListConfigResourcesRequest) *kmsg.ListConfigResourcesResponse {
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	types := req.ResourceTypes
	if req.Version == 0 {
		types = []int8{configResourceClientMetrics}
	} else if len(types) == 0 {
		types = []int8{configResourceTopic, configResourceBroker, configResourceBrokerLogger, configResourceClientMetrics, configResourceGroup}
	}
	var out []kmsg.ListConfigResourcesResponseConfigResource
	for _, typ := range types {
		switch typ {
		case configResourceTopic:
			for _, name := range r.node.routes.load().image.TopicNames() {
				res := kmsg.NewListConfigResourcesResponseConfigResource()
				res.Name, res.Type = name, typ
				out = append(out, res)
			}
		case configResourceBroker:
			res := kmsg.NewListConfigResourcesResponseConfigResource()
			res.Name, res.Type = strconv.Itoa(int(r.node.cfg.NodeID)), typ
			out = append(out, res)
		case configResourceBrokerLogger, configResourceClientMetrics, configResourceGroup:
		default:
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			return resp
		}
	}
	resp.ConfigResources = out
	return resp
}

// logDirPartition asks a partition actor for its size on disk.
type logDirPartition struct {
	reply func(sizeBytes int64)
}

// describeLogDirs answers DescribeLogDirs: the node's one log directory, its
// partitions (all, or those asked for) and their sizes, and the volume's
// total and usable bytes; then metadata.log.dir when it is another
// directory.
func (r *router) describeLogDirs(req *kmsg.DescribeLogDirsRequest, respond func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = r.node.cfg.DataDir
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = volumeBytes(dir.Dir)
	rt := r.node.routes.load()
	type want struct {
		topic      string
		partitions []int32
	}
	var wants []want
	if req.Topics == nil {
		for _, name := range rt.image.TopicNames() {
			t, _ := rt.image.Topic(name)
			w := want{topic: name}
			for p := int32(0); p < t.PartitionCount(); p++ {
				w.partitions = append(w.partitions, p)
			}
			wants = append(wants, w)
		}
	} else {
		for _, t := range req.Topics {
			wants = append(wants, want{topic: t.Topic, partitions: t.Partitions})
		}
	}
	// sizes[i][j] is the size of wants[i].partitions[j], -1 when unknown.
	sizes := make([][]int64, len(wants))
	var f fanOut[int64]
	for i, w := range wants {
		sizes[i] = make([]int64, len(w.partitions))
		for j, p := range w.partitions {
			sizes[i][j] = -1
			if pid := rt.partition(w.topic, p); pid != nil {
				f.ask(pid, func(size int64) { sizes[i][j] = size },
					func(reply func(int64)) any { return &logDirPartition{reply: reply} })
			}
		}
	}
	f.run(r.node.system.Root, describeLogDirsTimeout, func() {
		for i, w := range wants {
			dt := kmsg.NewDescribeLogDirsResponseDirTopic()
			dt.Topic = w.topic
			for j, p := range w.partitions {
				if sizes[i][j] < 0 {
					continue
				}
				dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
				dp.Partition, dp.Size = p, sizes[i][j]
				dt.Partitions = append(dt.Partitions, dp)
			}
			if len(dt.Partitions) > 0 {
				dir.Topics = append(dir.Topics, dt)
			}
		}
		resp.Dirs = append([]kmsg.DescribeLogDirsResponseDir{dir}, r.metadataLogDirs()...)
		respond(resp)
	})
}

// metadataLogDirs is the metadata log's directory (metadata.log.dir) as a
// DescribeLogDirs entry, with its volume's sizes and no partitions, when it
// is not the data directory, so that an operator sees every directory the
// node writes and the free space on each; none when it is the data
// directory.
func (r *router) metadataLogDirs() []kmsg.DescribeLogDirsResponseDir {
	meta := r.node.cfg.metadataLogDir()
	if meta == r.node.cfg.DataDir {
		return nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = meta
	if abs, err := filepath.Abs(meta); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = volumeBytes(dir.Dir)
	return []kmsg.DescribeLogDirsResponseDir{dir}
}

// describeLogDirsTimeout bounds how long DescribeLogDirs waits for partition
// actors busy elsewhere.
const describeLogDirsTimeout = 10 * time.Second
