package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Parsers of the controller scripts' inputs.

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

// resource parses "topic NAME ...", "broker NAME ...", "group NAME ..." or
// "client-metrics NAME ...".
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
	case "client-metrics":
		return kmsg.ConfigResourceTypeClientMetrics, name, args
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
//	register-broker ID [incarnation=N] [rack=R] [unfenced]
//	                                   RegisterBrokerRecord at this offset
//	broker-change ID fence|unfence|shutdown
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
		if name == "broker" && args[0].Key == "id" { // one broker's own config
			r.ResourceName = args[0].SingleVal(t)
			args = args[1:]
		}
		r.Name = args[0].Key
		if len(args[0].Vals) > 0 {
			r.Value = &args[0].Vals[0]
		}
		return r
	case "remove":
		return RemoveTopicRecord{TopicID: topic().ID}
	case "register-broker":
		r := RegisterBrokerRecord{BrokerID: int32(atoi(t, name)), IncarnationID: incarnation(1), BrokerEpoch: w.Epoch, Fenced: true,
			Endpoints: []BrokerEndpoint{{Name: "PLAINTEXT", Host: "b" + name, Port: 9092}}}
		for _, a := range args {
			switch a.Key {
			case "incarnation":
				r.IncarnationID = incarnation(atoi(t, a.SingleVal(t)))
			case "rack":
				r.Rack = kmsg.StringPtr(a.SingleVal(t))
			case "unfenced":
				r.Fenced = false
			}
		}
		return r
	case "broker-change":
		b, ok := w.Broker(int32(atoi(t, name)))
		if !ok {
			t.Fatalf("broker %s is not registered", name)
		}
		r := BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch}
		switch args[0].Key {
		case "fence":
			r.Fenced = FenceBroker
		case "unfence":
			r.Fenced = UnfenceBroker
		case "shutdown":
			r.InControlledShutdown = true
		}
		return r
	}
	t.Fatalf("unknown record %q", line)
	return nil
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

// deleteTopics reads one topic per line: NAME, id=N, NAME id=N (both) or
// - (neither); up to v5 a NAME goes in TopicNames.
func deleteTopics(t *testing.T, td *datadriven.TestData, version int16) *kmsg.DeleteTopicsRequest {
	r := kmsg.NewPtrDeleteTopicsRequest()
	for _, line := range lines(td.Input) {
		if name, idText, ok := strings.Cut(line, " id="); ok { // both, which is invalid
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			rt.TopicID[15] = byte(atoi(t, idText))
			r.Topics = append(r.Topics, rt)
		} else if line == "-" { // neither, which is invalid
			r.Topics = append(r.Topics, kmsg.NewDeleteTopicsRequestTopic())
		} else if idText, ok := strings.CutPrefix(line, "id="); ok {
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
	return r
}

// incarnation is the script's incarnation id N: zeros but for the last
// byte.
func incarnation(n int) IncarnationID {
	var id IncarnationID
	id[15] = byte(n)
	return id
}

// updateFeaturesRequest reads one feature update per line: FEATURE
// level=N [type=upgrade|safe|unsafe] (v0: safe or unsafe set
// AllowDowngrade).
func updateFeaturesRequest(t *testing.T, td *datadriven.TestData) *kmsg.UpdateFeaturesRequest {
	r := kmsg.NewPtrUpdateFeaturesRequest()
	r.ValidateOnly = td.HasArg("validate-only")
	for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		u.Feature, u.UpgradeType = fields[0], 1
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "level":
				u.MaxVersionLevel = int16(atoi(t, v))
			case "type":
				u.UpgradeType = map[string]int8{"upgrade": 1, "safe": 2, "unsafe": 3, "bogus": 9}[v]
				u.AllowDowngrade = v == "safe" || v == "unsafe"
			default:
				td.Fatalf(t, "unknown feature update field %q", f)
			}
		}
		r.FeatureUpdates = append(r.FeatureUpdates, u)
	}
	return r
}

func registerRequest(t *testing.T, td *datadriven.TestData) *kmsg.BrokerRegistrationRequest {
	r := kmsg.NewPtrBrokerRegistrationRequest()
	r.BrokerID = int32(intArg(t, td, "broker", -1))
	r.IncarnationID = incarnation(intArg(t, td, "incarnation", 1))
	if arg, ok := td.Arg("rack"); ok {
		r.Rack = kmsg.StringPtr(arg.SingleVal(t))
	}
	if arg, ok := td.Arg("cluster"); ok {
		r.ClusterID = arg.SingleVal(t)
	}
	r.PreviousBrokerEpoch = int64(intArg(t, td, "previous-epoch", -1))
	if td.HasArg("features") {
		// This build's feature ranges; without, a build before them.
		for _, f := range SupportedFeatures() {
			rf := kmsg.NewBrokerRegistrationRequestFeature()
			rf.Name, rf.MinSupportedVersion, rf.MaxSupportedVersion = f.Name, f.MinVersion, f.MaxVersion
			r.Features = append(r.Features, rf)
		}
	}
	if arg, ok := td.Arg("listeners"); ok {
		for _, v := range arg.Vals {
			name, addr, ok := strings.Cut(strings.TrimSpace(v), "://")
			host, port, ok2 := strings.Cut(addr, ":")
			if !ok || !ok2 {
				td.Fatalf(t, "listener %q is not NAME://host:port", v)
			}
			l := kmsg.NewBrokerRegistrationRequestListener()
			l.Name, l.Host, l.Port = name, host, uint16(atoi(t, port))
			r.Listeners = append(r.Listeners, l)
		}
	} else {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port = "PLAINTEXT", fmt.Sprintf("b%d", r.BrokerID), 9092
		r.Listeners = append(r.Listeners, l)
	}
	return r
}

func (s *controllerScript) heartbeatRequest(t *testing.T, td *datadriven.TestData) *kmsg.BrokerHeartbeatRequest {
	r := kmsg.NewPtrBrokerHeartbeatRequest()
	r.BrokerID = int32(intArg(t, td, "broker", -1))
	r.BrokerEpoch = -1
	if b, ok := s.view().Broker(r.BrokerID); ok {
		r.BrokerEpoch = b.Epoch
	}
	r.BrokerEpoch = int64(intArg(t, td, "epoch", int(r.BrokerEpoch)))
	r.CurrentMetadataOffset = int64(intArg(t, td, "offset", -1))
	r.WantFence, r.WantShutdown = td.HasArg("want-fence"), td.HasArg("want-shutdown")
	if td.HasArg("offline") {
		// offline=(t-0,u-1): the directory ids of those replicas.
		var names []string
		td.ScanArgs(t, "offline", &names)
		for _, name := range names {
			i := strings.LastIndex(name, "-")
			p, err := strconv.Atoi(name[i+1:])
			topic, ok := s.view().Topic(name[:i])
			if i < 0 || err != nil || !ok {
				t.Fatalf("offline %q: not a topic-partition", name)
			}
			r.OfflineLogDirs = append(r.OfflineLogDirs, PartitionDirectoryID(topic.ID, int32(p)))
		}
	}
	return r
}

func (s *controllerScript) alterPartitionRequest(t *testing.T, td *datadriven.TestData, version int16) *kmsg.AlterPartitionRequest {
	r := kmsg.NewPtrAlterPartitionRequest()
	r.BrokerID = int32(intArg(t, td, "broker", -1))
	if b, ok := s.view().Broker(r.BrokerID); ok {
		r.BrokerEpoch = b.Epoch
	}
	r.BrokerEpoch = int64(intArg(t, td, "epoch", int(r.BrokerEpoch)))
	for _, line := range lines(td.Input) {
		name, args := parseLine(t, line)
		topic, ok := s.view().Topic(name)
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.Topic = name
		if ok {
			rt.TopicID = topic.ID
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition = int32(atoi(t, args[0].Key))
		if ok && rp.Partition < topic.PartitionCount() {
			p := topic.Partitions[rp.Partition]
			rp.LeaderEpoch, rp.PartitionEpoch = p.LeaderEpoch, p.PartitionEpoch
		}
		var epochs map[int32]int64
		for _, a := range args[1:] {
			switch a.Key {
			case "isr":
				rp.NewISR = int32s(t, a.Vals)
			case "leader-epoch":
				rp.LeaderEpoch = int32(atoi(t, a.SingleVal(t)))
			case "partition-epoch":
				rp.PartitionEpoch = int32(atoi(t, a.SingleVal(t)))
			case "recovering":
				rp.LeaderRecoveryState = 1
			case "isr-epochs":
				epochs = map[int32]int64{}
				for _, v := range a.Vals {
					b, e, _ := strings.Cut(strings.TrimSpace(v), ":")
					epochs[int32(atoi(t, b))] = int64(atoi(t, e))
				}
			default:
				td.Fatalf(t, "unknown argument %q", a.Key)
			}
		}
		if version < 0 || version >= 3 {
			for _, b := range rp.NewISR {
				e, ok := epochs[b]
				if !ok {
					e = -1
					if reg, registered := s.view().Broker(b); registered {
						e = reg.Epoch
					}
				}
				rp.NewEpochISR = append(rp.NewEpochISR, kmsg.AlterPartitionRequestTopicPartitionNewEpochISR{BrokerID: b, BrokerEpoch: e})
			}
		}
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func electLeadersRequest(t *testing.T, td *datadriven.TestData) *kmsg.ElectLeadersRequest {
	r := kmsg.NewPtrElectLeadersRequest()
	if td.HasArg("unclean") {
		r.ElectionType = 1
	}
	if td.HasArg("all") {
		return r
	}
	r.Topics = []kmsg.ElectLeadersRequestTopic{}
	for _, line := range lines(td.Input) {
		name, args := parseLine(t, line)
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic = name
		for _, a := range args {
			if a.Key == "partitions" {
				rt.Partitions = int32s(t, a.Vals)
			}
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func alterReassignmentsRequest(t *testing.T, td *datadriven.TestData, version int16) *kmsg.AlterPartitionAssignmentsRequest {
	r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	r.AllowReplicationFactorChange = !td.HasArg("no-rf-change")
	for _, line := range lines(td.Input) {
		name, args := parseLine(t, line)
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = name
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition = int32(atoi(t, args[0].Key))
		for _, a := range args[1:] {
			switch a.Key {
			case "replicas":
				rp.Replicas = int32s(t, a.Vals)
			case "cancel":
				rp.Replicas = nil
			default:
				td.Fatalf(t, "unknown argument %q", a.Key)
			}
		}
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func listReassignmentsRequest(t *testing.T, td *datadriven.TestData) *kmsg.ListPartitionReassignmentsRequest {
	r := kmsg.NewPtrListPartitionReassignmentsRequest()
	if td.HasArg("all") {
		return r
	}
	r.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{}
	for _, line := range lines(td.Input) {
		name, args := parseLine(t, line)
		rt := kmsg.NewListPartitionReassignmentsRequestTopic()
		rt.Topic = name
		for _, a := range args {
			if a.Key == "partitions" {
				rt.Partitions = int32s(t, a.Vals)
			}
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// view is the image requests are built from: the working image, or the
// committed one when the controller does not lead.
func (s *controllerScript) view() *MetadataImage {
	if w := s.c.WorkingImage(); w != nil {
		return w
	}
	return s.c.Image()
}
