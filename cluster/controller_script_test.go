package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControllerScripts runs testdata/controller: the controller core stepped
// with requests, its records and answers printed as text, and what a node
// must start and stop as the image moves on.
//
//	controller [brokers=(1, 2)] [node=1] [num.partitions=N]
//	        [default.replication.factor=N] [delete.topic.enable=false]
//	                      a fresh controller over an empty image
//	brokers ids=(1, 2, 3) the brokers replicas may be placed on
//	create-topics [validate-only] [commit-fails] [v=N]
//	        one topic per line: name [partitions=N] [rf=N]
//	        [assignment=(1;2, 2;3)] [assignment-from=N] [null-config=key]
//	        [key=value ...]   (assignment lists replicas by partition from
//	        0, or from N after it; "" is the empty name)
//	delete-topics [commit-fails] [v=N]
//	        one per line: a name, or id=N (the topic whose id ends in N)
//	create-partitions [validate-only] [commit-fails]
//	        one per line: name count=N [assignment=(1, 2)]
//	alter-configs [validate-only] [commit-fails]
//	        one resource per line: topic NAME k=v ... | broker NAME k=v ...
//	        (NAME "-" is the broker default, "")
//	incremental-alter-configs [validate-only] [commit-fails]
//	        one resource per line: topic NAME op:key[=value] ...
//	        with op one of set, delete, append, subtract
//	auto-create           topic names, one per line
//	deletion-completed topic=NAME broker=N
//	apply                 raw records, one per line (see parseRecord),
//	                      committed together
//	image                 the committed image
//	local-changes node=(1, 2)
//	                      what each node must do since the last
//	                      local-changes
//
// A request's records are committed (replayed) unless commit-fails is given;
// then the answer for a failed commit is printed instead.
func TestControllerScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/controller", func(t *testing.T, path string) {
		s := &controllerScript{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

type controllerScript struct {
	c *Controller
	// mark is the image local-changes compares with.
	mark *MetadataImage
}

// scriptEntropy fills each read with zeros but for its last byte, a
// counter: topic ids read 00000000-…-00000001, 00000000-…-00000002, ...
type scriptEntropy struct{ n byte }

func (e *scriptEntropy) Read(p []byte) (int, error) {
	clear(p)
	e.n++
	p[len(p)-1] = e.n
	return len(p), nil
}

func (s *controllerScript) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "controller" && s.c == nil {
		td.Fatalf(t, "start with a controller command")
	}
	switch td.Cmd {
	case "controller":
		cfg := ControllerConfig{NodeID: 1, NumPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
			StaticBrokerConfigs: map[string]string{}, Entropy: &scriptEntropy{}}
		brokers := []int32{1}
		for _, arg := range td.CmdArgs {
			switch arg.Key {
			case "brokers":
				brokers = int32s(t, arg.Vals)
			case "node":
				cfg.NodeID = int32(atoi(t, arg.SingleVal(t)))
			case "num.partitions":
				cfg.NumPartitions = int32(atoi(t, arg.SingleVal(t)))
			case "default.replication.factor":
				cfg.DefaultReplicationFactor = int16(atoi(t, arg.SingleVal(t)))
			case "delete.topic.enable":
				cfg.DeleteTopicEnable = arg.SingleVal(t) == "true"
			default:
				cfg.StaticBrokerConfigs[arg.Key] = arg.SingleVal(t)
			}
		}
		s.c = NewController(cfg, NewMetadataImage(), brokers)
		s.mark = s.c.Image()
		return ""
	case "brokers":
		arg, _ := td.Arg("ids")
		s.c.SetBrokers(int32s(t, arg.Vals))
		return ""
	case "auto-create":
		res := s.c.AutoCreateTopics(strings.Fields(td.Input))
		out := s.commit(t, res, false)
		for _, r := range res.Refused {
			out += fmt.Sprintf("refused %s: %s\n", r.Topic, r.Reason)
		}
		return out
	case "deletion-completed":
		var topic string
		var broker int
		td.ScanArgs(t, "topic", &topic)
		td.ScanArgs(t, "broker", &broker)
		s.c.TopicDeletionCompleted(topic, int32(broker))
		return ""
	case "apply":
		var recs []MetadataRecord
		w := s.c.Image()
		for _, line := range lines(td.Input) {
			rec := s.parseRecord(t, w, line)
			next, err := w.Apply(rec)
			if err != nil {
				td.Fatalf(t, "%s: %v", line, err)
			}
			w, recs = next, append(recs, rec)
		}
		return s.commit(t, ControllerResult{Records: recs}, false)
	case "image":
		return formatImage(s.c.Image())
	case "local-changes":
		arg, _ := td.Arg("node")
		var out strings.Builder
		for _, node := range int32s(t, arg.Vals) {
			if len(arg.Vals) > 1 {
				fmt.Fprintf(&out, "node %d:\n", node)
			}
			out.WriteString(formatLocalChanges(LocalChanges(s.mark, s.c.Image(), node)))
		}
		s.mark = s.c.Image()
		return out.String()
	}
	req := s.request(t, td)
	res, ok := s.c.Handle(req)
	if !ok {
		td.Fatalf(t, "the controller does not handle %s", td.Cmd)
	}
	return s.commit(t, res, td.HasArg("commit-fails"))
}

// commit prints a result's records and answer, and replays the records
// unless the commit is to fail.
func (s *controllerScript) commit(t *testing.T, res ControllerResult, fail bool) string {
	var out strings.Builder
	before := s.c.Image()
	after := before
	if len(res.Records) > 0 {
		var err error
		if after, err = before.Apply(res.Records...); err != nil {
			t.Fatalf("records do not apply: %v", err)
		}
	}
	for _, rec := range res.Records {
		fmt.Fprintf(&out, "record: %s\n", formatRecord(rec, before, after))
	}
	resp := res.Response
	if fail {
		resp = res.FailedResponse(errors.New("disk full"))
		out.WriteString("commit failed\n")
	} else if len(res.Records) > 0 {
		if _, err := s.c.Replay(res.Records); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if resp != nil {
		out.WriteString(formatResponse(resp))
	}
	return out.String()
}

// request builds the request a command describes.
func (s *controllerScript) request(t *testing.T, td *datadriven.TestData) kmsg.Request {
	validateOnly := td.HasArg("validate-only")
	version := int16(-1)
	if arg, ok := td.Arg("v"); ok {
		version = int16(atoi(t, arg.SingleVal(t)))
	}
	var req kmsg.Request
	switch td.Cmd {
	case "create-topics":
		r := kmsg.NewPtrCreateTopicsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Topics = append(r.Topics, createTopic(t, line))
		}
		req = r
	case "delete-topics":
		r := kmsg.NewPtrDeleteTopicsRequest()
		for _, line := range lines(td.Input) {
			if idText, ok := strings.CutPrefix(line, "id="); ok {
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.TopicID[15] = byte(atoi(t, idText))
				r.Topics = append(r.Topics, rt)
			} else if version >= 0 && version < 6 {
				r.TopicNames = append(r.TopicNames, line)
			} else {
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = kmsg.StringPtr(line)
				r.Topics = append(r.Topics, rt)
			}
		}
		req = r
	case "create-partitions":
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Topics = append(r.Topics, createPartitions(t, line))
		}
		req = r
	case "alter-configs":
		r := kmsg.NewPtrAlterConfigsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Resources = append(r.Resources, alterConfigs(t, line))
		}
		req = r
	case "incremental-alter-configs":
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Resources = append(r.Resources, incrementalAlterConfigs(t, line))
		}
		req = r
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	if version < 0 {
		version = req.MaxVersion()
	}
	req.SetVersion(version)
	return req
}

func createTopic(t *testing.T, line string) kmsg.CreateTopicsRequestTopic {
	name, args := parseLine(t, line)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	for _, arg := range args {
		switch arg.Key {
		case "partitions":
			rt.NumPartitions = int32(atoi(t, arg.SingleVal(t)))
		case "rf":
			rt.ReplicationFactor = int16(atoi(t, arg.SingleVal(t)))
		case "assignment":
			for i, v := range arg.Vals {
				a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				a.Partition, a.Replicas = int32(i), int32s(t, strings.Split(v, ";"))
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
			}
		case "assignment-from":
			from := int32(atoi(t, arg.SingleVal(t)))
			for i := range rt.ReplicaAssignment {
				rt.ReplicaAssignment[i].Partition += from
			}
		case "null-config":
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name = arg.SingleVal(t)
			rt.Configs = append(rt.Configs, c)
		default:
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = arg.Key, kmsg.StringPtr(arg.SingleVal(t))
			rt.Configs = append(rt.Configs, c)
		}
	}
	return rt
}

func createPartitions(t *testing.T, line string) kmsg.CreatePartitionsRequestTopic {
	name, args := parseLine(t, line)
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic = name
	for _, arg := range args {
		switch arg.Key {
		case "count":
			rt.Count = int32(atoi(t, arg.SingleVal(t)))
		case "assignment":
			for _, v := range arg.Vals {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas = int32s(t, strings.Split(v, ";"))
				rt.Assignment = append(rt.Assignment, a)
			}
		default:
			t.Fatalf("unknown argument %q", arg.Key)
		}
	}
	return rt
}

// resource parses "topic NAME ..." or "broker NAME ...".
func resource(t *testing.T, line string) (kmsg.ConfigResourceType, string, []datadriven.CmdArg) {
	kind, rest, _ := strings.Cut(line, " ")
	name, args := parseLine(t, rest)
	if name == "-" {
		name = ""
	}
	switch kind {
	case "topic":
		return kmsg.ConfigResourceTypeTopic, name, args
	case "broker":
		return kmsg.ConfigResourceTypeBroker, name, args
	case "group":
		return kmsg.ConfigResourceType(32), name, args
	}
	t.Fatalf("unknown resource type %q", kind)
	return 0, "", nil
}

func alterConfigs(t *testing.T, line string) kmsg.AlterConfigsRequestResource {
	typ, name, args := resource(t, line)
	res := kmsg.NewAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = typ, name
	for _, arg := range args {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name = arg.Key
		if arg.Key == "null-config" {
			c.Name = arg.SingleVal(t)
		} else {
			c.Value = kmsg.StringPtr(arg.SingleVal(t))
		}
		res.Configs = append(res.Configs, c)
	}
	return res
}

func incrementalAlterConfigs(t *testing.T, line string) kmsg.IncrementalAlterConfigsRequestResource {
	typ, name, args := resource(t, line)
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = typ, name
	ops := map[string]kmsg.IncrementalAlterConfigOp{"set": kmsg.IncrementalAlterConfigOpSet, "delete": kmsg.IncrementalAlterConfigOpDelete,
		"append": kmsg.IncrementalAlterConfigOpAppend, "subtract": kmsg.IncrementalAlterConfigOpSubtract, "op9": 9}
	for _, arg := range args {
		opName, key, ok := strings.Cut(arg.Key, ":")
		op, known := ops[opName]
		if !ok || !known {
			t.Fatalf("%q is not op:key", arg.Key)
		}
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Op, c.Name = op, key
		if len(arg.Vals) > 0 {
			c.Value = kmsg.StringPtr(arg.SingleVal(t))
		}
		res.Configs = append(res.Configs, c)
	}
	return res
}

// parseRecord reads a raw record:
//
//	topic NAME                         TopicRecord, id from the entropy
//	partition NAME replicas=(1, 2) [isr=(...)] [leader=N]
//	partition-change NAME P [leader=N] [isr=(...)] [replicas=(...)]
//	config topic NAME key[=value]      ConfigRecord (no value: delete)
//	config broker key[=value]
//	remove NAME                        RemoveTopicRecord
func (s *controllerScript) parseRecord(t *testing.T, w *MetadataImage, line string) MetadataRecord {
	kind, rest, _ := strings.Cut(line, " ")
	name, args := parseLine(t, rest)
	topic := func() *TopicImage {
		tp, ok := w.Topic(name)
		if !ok {
			t.Fatalf("no topic %q", name)
		}
		return tp
	}
	argInts := func(key string) []int32 {
		for _, a := range args {
			if a.Key == key {
				return int32s(t, a.Vals)
			}
		}
		return nil
	}
	switch kind {
	case "topic":
		id, err := s.c.newTopicID(w)
		if err != nil {
			t.Fatal(err)
		}
		return TopicRecord{Name: name, TopicID: id}
	case "partition":
		tp := topic()
		r := PartitionRecord{TopicID: tp.ID, Partition: tp.PartitionCount(), Replicas: argInts("replicas"), ISR: argInts("isr")}
		if r.ISR == nil {
			r.ISR = r.Replicas
		}
		r.Leader = r.Replicas[0]
		if l := argInts("leader"); l != nil {
			r.Leader = l[0]
		}
		return r
	case "partition-change":
		r := PartitionChangeRecord{TopicID: topic().ID, Partition: int32(atoi(t, args[0].Key)), Leader: NoLeaderChange,
			ISR: argInts("isr"), Replicas: argInts("replicas")}
		if l := argInts("leader"); l != nil {
			r.Leader = l[0]
		}
		return r
	case "config":
		r := ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker}
		if name == "topic" {
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, args[0].Key
			args = args[1:]
		}
		r.Name = args[0].Key
		if len(args[0].Vals) > 0 {
			r.Value = &args[0].Vals[0]
		}
		return r
	case "remove":
		return RemoveTopicRecord{TopicID: topic().ID}
	}
	t.Fatalf("unknown record %q", line)
	return nil
}

// formatRecord prints a record with topic names for ids.
func formatRecord(rec MetadataRecord, before, after *MetadataImage) string {
	name := func(id TopicID) string {
		for _, m := range []*MetadataImage{after, before} {
			if t, ok := m.TopicByID(id); ok {
				return t.Name
			}
		}
		return id.String()
	}
	switch r := rec.(type) {
	case TopicRecord:
		return fmt.Sprintf("TopicRecord %s id=%s", r.Name, shortID(r.TopicID))
	case PartitionRecord:
		return fmt.Sprintf("PartitionRecord %s-%d replicas=%v isr=%v leader=%d leader_epoch=%d partition_epoch=%d",
			name(r.TopicID), r.Partition, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch)
	case PartitionChangeRecord:
		return strings.Replace(r.String(), "id="+r.TopicID.String()+" partition=", name(r.TopicID)+"-", 1)
	case RemoveTopicRecord:
		return fmt.Sprintf("RemoveTopicRecord %s", name(r.TopicID))
	}
	return rec.String()
}

// shortID prints an id of the script's entropy by its counter.
func shortID(id TopicID) string {
	if [15]byte(id[:15]) == [15]byte{} {
		return strconv.Itoa(int(id[15]))
	}
	return id.String()
}

func formatImage(m *MetadataImage) string {
	var out strings.Builder
	fmt.Fprintf(&out, "epoch %d\n", m.Epoch)
	for t := range m.Topics() {
		fmt.Fprintf(&out, "%s id=%s rf=%d%s\n", t.Name, shortID(t.ID), t.ReplicationFactor, formatConfigs(t.Configs))
		for _, p := range t.Partitions {
			fmt.Fprintf(&out, "  %d replicas=%v isr=%v leader=%d leader_epoch=%d partition_epoch=%d\n",
				p.Partition, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
		}
	}
	if len(m.BrokerConfigs()) > 0 {
		fmt.Fprintf(&out, "broker defaults%s\n", formatConfigs(m.BrokerConfigs()))
	}
	return out.String()
}

func formatConfigs(configs map[string]string) string {
	var out strings.Builder
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		fmt.Fprintf(&out, " %s=%s", k, configs[k])
	}
	return out.String()
}

func formatLocalChanges(ch LocalReplicaChanges) string {
	var out strings.Builder
	for _, r := range ch.Stop {
		fmt.Fprintf(&out, "stop %s-%d delete=%t\n", r.Topic, r.Partition.Partition, r.Delete)
	}
	for _, r := range ch.Start {
		fmt.Fprintf(&out, "start %s-%d id=%s leader=%d leader_epoch=%d\n", r.Topic, r.Partition.Partition, shortID(r.TopicID), r.Partition.Leader, r.Partition.LeaderEpoch)
	}
	for _, topic := range ch.Reconfigure {
		fmt.Fprintf(&out, "reconfigure %s\n", topic)
	}
	for _, r := range ch.Changed {
		p := r.Partition
		fmt.Fprintf(&out, "changed %s-%d replicas=%v isr=%v leader=%d leader_epoch=%d partition_epoch=%d\n",
			r.Topic, p.Partition, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	}
	if ch.Empty() {
		out.WriteString("nothing\n")
	}
	return out.String()
}

func formatResponse(resp kmsg.Response) string {
	var out strings.Builder
	result := func(what string, code int16, msg *string) {
		fmt.Fprintf(&out, "%s: %s", what, codeName(code))
		if msg != nil {
			fmt.Fprintf(&out, ": %s", *msg)
		}
	}
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			result(t.Topic, t.ErrorCode, t.ErrorMessage)
			if t.ErrorCode == 0 {
				fmt.Fprintf(&out, " id=%s partitions=%d rf=%d", shortID(t.TopicID), t.NumPartitions, t.ReplicationFactor)
				for _, c := range t.Configs {
					if c.Source != int8(kmsg.ConfigSourceDefaultConfig) {
						fmt.Fprintf(&out, " %s=%s(%s)", c.Name, *c.Value, sourceNames[kmsg.ConfigSource(c.Source)])
					}
				}
			}
			out.WriteString("\n")
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			what := "id=" + shortID(t.TopicID)
			if t.Topic != nil {
				what = *t.Topic + " " + what
			}
			result(what, t.ErrorCode, t.ErrorMessage)
			out.WriteString("\n")
		}
	case *kmsg.CreatePartitionsResponse:
		for _, t := range r.Topics {
			result(t.Topic, t.ErrorCode, t.ErrorMessage)
			out.WriteString("\n")
		}
	case *kmsg.AlterConfigsResponse:
		for _, res := range r.Resources {
			result(fmt.Sprintf("%s %q", configResourceName(res.ResourceType), res.ResourceName), res.ErrorCode, res.ErrorMessage)
			out.WriteString("\n")
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		for _, res := range r.Resources {
			result(fmt.Sprintf("%s %q", configResourceName(res.ResourceType), res.ResourceName), res.ErrorCode, res.ErrorMessage)
			out.WriteString("\n")
		}
	default:
		fmt.Fprintf(&out, "%T\n", resp)
	}
	return out.String()
}

var sourceNames = map[kmsg.ConfigSource]string{
	kmsg.ConfigSourceDynamicTopicConfig:         "topic",
	kmsg.ConfigSourceDynamicDefaultBrokerConfig: "dynamic broker default",
	kmsg.ConfigSourceStaticBrokerConfig:         "static broker",
}

func codeName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		var kerrErr *kerr.Error
		if errors.As(err, &kerrErr) {
			return kerrErr.Message
		}
	}
	return strconv.Itoa(int(code))
}

func parseLine(t *testing.T, line string) (string, []datadriven.CmdArg) {
	cmd, args, err := datadriven.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if cmd == `""` {
		cmd = ""
	}
	return cmd, args
}

func lines(input string) []string {
	var out []string
	for _, l := range strings.Split(input, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func int32s(t *testing.T, vals []string) []int32 {
	out := []int32{}
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, int32(atoi(t, v)))
		}
	}
	return out
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
