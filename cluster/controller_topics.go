package cluster

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicPlan is a topic the controller decided to create.
type topicPlan struct {
	name     string
	id       TopicID
	replicas [][]int32
	configs  map[string]string
}

// topicRecords are the records that create the topic a plan describes.
func (c *Controller) topicRecords(w *MetadataImage, p *topicPlan) []MetadataRecord {
	recs := []MetadataRecord{TopicRecord{Name: p.name, TopicID: p.id}}
	recs = append(recs, configRecords(kmsg.ConfigResourceTypeTopic, p.name, p.configs)...)
	return append(recs, c.partitionRecords(w, p.id, 0, p.replicas)...)
}

// createTopics decides a CreateTopics request. Each topic is checked
// against the image as the topics before it in the request leave it. A
// topic named more than once is created under none of its entries and
// answered once, INVALID_REQUEST, as Kafka's controller does: the answer's
// topics are keyed by name (librdkafka fails to parse an answer that names
// a topic twice).
func (c *Controller) createTopics(req *kmsg.CreateTopicsRequest) decision {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	w := c.working
	var recs []MetadataRecord
	var created []int // answers that need the records
	for _, t := range req.Topics {
		if seen[t.Topic] < 0 {
			continue // a duplicate answered already
		}
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		var aerr *apiError
		if seen[t.Topic] > 1 {
			seen[t.Topic] = -1
			aerr = duplicateTopic(t.Topic)
		}
		configs := map[string]string{}
		for _, cfg := range t.Configs {
			if aerr != nil {
				break
			}
			if cfg.Value == nil {
				aerr = newAPIError(kerr.InvalidConfig, "config %s of topic %q has a null value", cfg.Name, t.Topic)
				break
			}
			configs[cfg.Name] = *cfg.Value
		}
		var plan *topicPlan
		if aerr == nil {
			plan, aerr = c.newTopic(w, t.Topic, t.NumPartitions, t.ReplicationFactor, t.ReplicaAssignment, configs)
		}
		if aerr != nil {
			rt.ErrorCode, rt.ErrorMessage = aerr.code, &aerr.msg
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		if !req.ValidateOnly {
			trecs := c.topicRecords(w, plan)
			w = mustApply(w, trecs)
			recs = append(recs, trecs...)
			created = append(created, len(resp.Topics))
		}
		rt.TopicID = plan.id
		rt.NumPartitions, rt.ReplicationFactor = int32(len(plan.replicas)), int16(len(plan.replicas[0]))
		view := &TopicImage{Name: plan.name, ID: plan.id, Configs: plan.configs}
		rt.Configs = createTopicsConfigs(TopicConfigEntries(view, BrokerConfigs{Dynamic: w.BrokerConfigs(), Static: c.cfg.StaticBrokerConfigs}))
		resp.Topics = append(resp.Topics, rt)
	}
	return decision{records: recs, image: w, response: resp, fail: func(code int16, err error) kmsg.Response {
		out := *resp
		out.Topics = slices.Clone(resp.Topics)
		for _, i := range created {
			rt := &out.Topics[i]
			msg := fmt.Sprintf("persist topic %q: %v", rt.Topic, err)
			rt.ErrorCode, rt.ErrorMessage = code, &msg
			rt.TopicID, rt.NumPartitions, rt.ReplicationFactor, rt.Configs = TopicID{}, -1, -1, nil
		}
		return &out
	}}
}

// clusterMetadataTopic is the name of KRaft's metadata log, which Kafka's
// tools and clients know; no topic may take it.
const clusterMetadataTopic = "__cluster_metadata"

// duplicateTopic is the answer to a topic a request names more than once.
func duplicateTopic(name string) *apiError {
	return newAPIError(kerr.InvalidRequest, "topic %q is listed more than once", name)
}

// AutoCreateTopics creates the named topics that do not exist, with the
// broker defaults, as auto.create.topics.enable does. Its answer comes out
// of Ready with token once the topics are committed: Refused lists the
// names it could not create, and there is no Response.
func (c *Controller) AutoCreateTopics(names []string, token any) {
	if !c.active {
		var refused []TopicRefusal
		for _, name := range names {
			refused = append(refused, TopicRefusal{Topic: name, Reason: "this node's controller is not the active controller"})
		}
		c.out.Answers = append(c.out.Answers, ControllerAnswer{Token: token, Refused: refused})
		return
	}
	w := c.working
	var d decision
	for _, name := range names {
		if _, ok := w.Topic(name); ok {
			continue
		}
		plan, aerr := c.newTopic(w, name, -1, -1, nil, map[string]string{})
		if aerr != nil {
			d.refused = append(d.refused, TopicRefusal{Topic: name, Reason: aerr.msg})
			continue
		}
		trecs := c.topicRecords(w, plan)
		w = mustApply(w, trecs)
		d.records = append(d.records, trecs...)
	}
	d.image = w
	c.submit(token, nil, d)
}

// newTopic validates a topic to create against the working image w and
// places its replicas.
func (c *Controller) newTopic(w *MetadataImage, name string, partitions int32, replication int16, assignment []kmsg.CreateTopicsRequestTopicReplicaAssignment, configs map[string]string) (*topicPlan, *apiError) {
	if aerr := c.checkNewTopicName(w, name); aerr != nil {
		return nil, aerr
	}
	var replicas [][]int32
	if len(assignment) > 0 {
		if partitions != -1 || replication != -1 {
			return nil, newAPIError(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given for %q", name)
		}
		for i, a := range assignment {
			if a.Partition != int32(i) {
				return nil, newAPIError(kerr.InvalidReplicaAssignment, "replica assignment of %q must list partitions 0..%d in order", name, len(assignment)-1)
			}
			if problem := c.replicaProblem(w, a.Replicas, len(assignment[0].Replicas)); problem != "" {
				return nil, newAPIError(kerr.InvalidReplicaAssignment, "partition %d of %q is assigned to brokers %v; %s", i, name, a.Replicas, problem)
			}
			replicas = append(replicas, slices.Clone(a.Replicas))
		}
		partitions, replication = int32(len(assignment)), int16(len(assignment[0].Replicas))
	}
	if partitions == -1 {
		partitions = c.cfg.NumPartitions
	}
	if replication == -1 {
		replication = c.cfg.DefaultReplicationFactor
	}
	switch {
	case partitions <= 0:
		return nil, newAPIError(kerr.InvalidPartitions, "number of partitions must be larger than 0, got %d", partitions)
	case partitions > MaxPartitionsPerTopic:
		return nil, newAPIError(kerr.InvalidPartitions, "number of partitions %d is above this broker's limit of %d", partitions, MaxPartitionsPerTopic)
	case replication <= 0:
		return nil, newAPIError(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, got %d", replication)
	case replicas == nil && replicationTooHigh(int(replication), len(c.usableBrokers(w))) != nil:
		return nil, replicationTooHigh(int(replication), len(c.usableBrokers(w)))
	}
	if aerr := checkTopicConfigs(configs); aerr != nil {
		return nil, aerr
	}
	id, err := c.newTopicID(w)
	if err != nil {
		return nil, newAPIError(kerr.UnknownServerError, "topic id: %v", err)
	}
	if replicas == nil {
		var aerr *apiError
		if replicas, aerr = c.placement(w, nil, 0, partitions, int(replication)); aerr != nil {
			return nil, aerr
		}
	}
	return &topicPlan{name: name, id: id, replicas: replicas, configs: configs}, nil
}

// checkNewTopicName applies Kafka's name rules and refuses names that
// exist or collide with an existing one ('.' and '_' are the same in metric
// names). A deleted topic's name is free at once, as in Kafka: a broker
// still holding the old topic's replicas starts a replica of the new one
// only once their data is gone (actors' replica manager defers it).
func (c *Controller) checkNewTopicName(w *MetadataImage, name string) *apiError {
	if err := ValidateTopicName(name); err != nil {
		return newAPIError(kerr.InvalidTopicException, "%v", err)
	}
	if name == clusterMetadataTopic {
		// As Kafka's controller: the name is the metadata log's.
		return newAPIError(kerr.InvalidRequest, "creation of internal topic %s is prohibited", name)
	}
	if _, ok := w.Topic(name); ok {
		return newAPIError(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	if other, ok := w.CollidingTopic(name); ok {
		return newAPIError(kerr.InvalidTopicException, "topic %q collides with existing topic %q: '.' and '_' are interchangeable in metric names", name, other)
	}
	return nil
}

// checkTopicConfigs validates the configs of a topic to create or alter, in
// key order.
func checkTopicConfigs(configs map[string]string) *apiError {
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		if err := ValidateTopicConfig(name, configs[name]); err != nil {
			return newAPIError(kerr.InvalidConfig, "%v", err)
		}
	}
	return nil
}

// deleteTopics decides a DeleteTopics request (by name up to v5, by name
// or id from v6). As Kafka's controller: a topic named (or given by id)
// more than once is deleted by none of its entries and answered once,
// INVALID_REQUEST; so is a topic given both by its name and by its id; an
// entry with both a name and an id, or with neither, is INVALID_REQUEST.
func (c *Controller) deleteTopics(req *kmsg.DeleteTopicsRequest) decision {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	var targets []deleteTarget
	for _, n := range req.TopicNames {
		targets = append(targets, deleteTarget{name: kmsg.StringPtr(n)})
	}
	for _, t := range req.Topics {
		targets = append(targets, deleteTarget{name: t.Topic, id: t.TopicID})
	}
	w := c.working
	entries := map[deleteKey]int{} // by name or by id
	reached := map[TopicID]int{}   // by the topic an entry finds
	for _, tg := range targets {
		entries[tg.key()]++
		if topic, ok := tg.find(w); ok && tg.valid() {
			reached[topic.ID]++
		}
	}
	var recs []MetadataRecord
	var deleted []int
	for _, tg := range targets {
		if entries[tg.key()] < 0 {
			continue // a duplicate answered already
		}
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = tg.name, tg.id
		topic, ok := tg.find(w)
		var aerr *apiError
		switch {
		case !c.cfg.DeleteTopicEnable:
			aerr = newAPIError(kerr.TopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable=false)")
		case !tg.valid() && tg.name == nil:
			aerr = newAPIError(kerr.InvalidRequest, "neither a topic name nor a topic id was given")
		case !tg.valid():
			aerr = newAPIError(kerr.InvalidRequest, "both a topic name and a topic id were given for %q", *tg.name)
		case entries[tg.key()] > 1:
			entries[tg.key()] = -1
			aerr = newAPIError(kerr.InvalidRequest, "topic %s is listed more than once", tg)
		case !ok && tg.name == nil:
			rt.ErrorCode = kerr.UnknownTopicID.Code
		case !ok:
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case reached[topic.ID] > 1:
			aerr = newAPIError(kerr.InvalidRequest, "topic %q is listed both by its name and by its id", topic.Name)
		default:
			rt.Topic, rt.TopicID = kmsg.StringPtr(topic.Name), topic.ID
			rec := []MetadataRecord{RemoveTopicRecord{TopicID: topic.ID}}
			w = mustApply(w, rec)
			recs = append(recs, rec...)
			deleted = append(deleted, len(resp.Topics))
		}
		if aerr != nil {
			rt.ErrorCode, rt.ErrorMessage = aerr.code, &aerr.msg
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return decision{records: recs, image: w, response: resp, fail: func(code int16, err error) kmsg.Response {
		out := *resp
		out.Topics = slices.Clone(resp.Topics)
		for _, i := range deleted {
			msg := err.Error()
			out.Topics[i].ErrorCode, out.Topics[i].ErrorMessage = code, &msg
		}
		return &out
	}}
}

// deleteTarget is one topic of a DeleteTopics request: a name, an id, or
// (invalidly) both or neither.
type deleteTarget struct {
	name *string
	id   TopicID
}

// valid says the target has a name or an id, not both.
func (tg deleteTarget) valid() bool { return (tg.name == nil) != (tg.id == TopicID{}) }

// deleteKey is what two entries that name the same topic share: the name
// (hasName), or the id.
type deleteKey struct {
	name    string
	hasName bool
	id      TopicID
}

func (tg deleteTarget) key() deleteKey {
	if tg.name != nil {
		return deleteKey{name: *tg.name, hasName: true, id: tg.id}
	}
	return deleteKey{id: tg.id}
}

// find looks the target's topic up in w, by name when it has one.
func (tg deleteTarget) find(w *MetadataImage) (*TopicImage, bool) {
	if tg.name != nil {
		return w.Topic(*tg.name)
	}
	return w.TopicByID(tg.id)
}

// String names the target as an answer's message does.
func (tg deleteTarget) String() string {
	if tg.name != nil {
		return fmt.Sprintf("%q", *tg.name)
	}
	return fmt.Sprintf("id %v", tg.id)
}

// createPartitions decides a CreatePartitions request. A topic named more
// than once grows under none of its entries and is answered once,
// INVALID_REQUEST, as by Kafka's controller.
func (c *Controller) createPartitions(req *kmsg.CreatePartitionsRequest) decision {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	w := c.working
	var recs []MetadataRecord
	var grown []int
	for _, t := range req.Topics {
		if seen[t.Topic] < 0 {
			continue // a duplicate answered already
		}
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var precs []MetadataRecord
		var aerr *apiError
		if seen[t.Topic] > 1 {
			seen[t.Topic] = -1
			aerr = duplicateTopic(t.Topic)
		} else {
			precs, aerr = c.addPartitions(w, t)
		}
		switch {
		case aerr != nil:
			rt.ErrorCode, rt.ErrorMessage = aerr.code, &aerr.msg
		case !req.ValidateOnly:
			w = mustApply(w, precs)
			recs = append(recs, precs...)
			grown = append(grown, len(resp.Topics))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return decision{records: recs, image: w, response: resp, fail: func(code int16, err error) kmsg.Response {
		out := *resp
		out.Topics = slices.Clone(resp.Topics)
		for _, i := range grown {
			msg := fmt.Sprintf("persist partitions of %q: %v", out.Topics[i].Topic, err)
			out.Topics[i].ErrorCode, out.Topics[i].ErrorMessage = code, &msg
		}
		return &out
	}}
}

// addPartitions validates one topic's growth and returns its records.
func (c *Controller) addPartitions(w *MetadataImage, t kmsg.CreatePartitionsRequestTopic) ([]MetadataRecord, *apiError) {
	topic, ok := w.Topic(t.Topic)
	if !ok {
		return nil, newAPIError(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.Topic)
	}
	current := topic.PartitionCount()
	switch {
	case t.Count < current:
		return nil, newAPIError(kerr.InvalidPartitions, "topic %q has %d partitions, which is higher than the requested %d", t.Topic, current, t.Count)
	case t.Count == current:
		return nil, newAPIError(kerr.InvalidPartitions, "topic %q already has %d partitions", t.Topic, t.Count)
	case t.Count > MaxPartitionsPerTopic:
		return nil, newAPIError(kerr.InvalidPartitions, "number of partitions %d is above this broker's limit of %d", t.Count, MaxPartitionsPerTopic)
	case t.Assignment != nil && len(t.Assignment) != int(t.Count-current):
		return nil, newAPIError(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(t.Assignment), t.Count-current)
	}
	rf := int(topic.ReplicationFactor)
	var replicas [][]int32
	for _, a := range t.Assignment {
		if problem := c.replicaProblem(w, a.Replicas, rf); problem != "" {
			return nil, newAPIError(kerr.InvalidReplicaAssignment, "replicas %v: %s", a.Replicas, problem)
		}
		replicas = append(replicas, slices.Clone(a.Replicas))
	}
	if replicas == nil {
		var aerr *apiError
		if replicas, aerr = c.placement(w, topic, current, t.Count, rf); aerr != nil {
			return nil, aerr
		}
	}
	return c.partitionRecords(w, topic.ID, current, replicas), nil
}
