package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// How the controller scripts print records, images and answers.

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
			name(r.TopicID), r.Partition, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch) + elrString(r.ELR, r.LastKnownELR)
	case PartitionChangeRecord:
		return strings.Replace(r.String(), "id="+r.TopicID.String()+" partition=", name(r.TopicID)+"-", 1)
	case RemoveTopicRecord:
		return fmt.Sprintf("RemoveTopicRecord %s", name(r.TopicID))
	case RegisterBrokerRecord:
		return strings.Replace(r.String(), "incarnation="+r.IncarnationID.String(), "incarnation="+shortID(TopicID(r.IncarnationID)), 1)
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
	if m.ClusterID() != "" {
		fmt.Fprintf(&out, "cluster %s\n", m.ClusterID())
	}
	for _, f := range m.FinalizedFeatures() {
		fmt.Fprintf(&out, "feature %s=%d\n", f.Name, f.Level)
	}
	for t := range m.Topics() {
		fmt.Fprintf(&out, "%s id=%s rf=%d%s\n", t.Name, shortID(t.ID), t.ReplicationFactor, formatConfigs(t.Configs))
		for _, p := range t.Partitions {
			fmt.Fprintf(&out, "  %d replicas=%v isr=%v leader=%d leader_epoch=%d partition_epoch=%d",
				p.Partition, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
			if p.Reassigning() {
				fmt.Fprintf(&out, " adding=%v removing=%v", p.AddingReplicas, p.RemovingReplicas)
			}
			out.WriteString(elrString(p.ELR, p.LastKnownELR) + "\n")
		}
	}
	if len(m.BrokerConfigs()) > 0 {
		fmt.Fprintf(&out, "broker defaults%s\n", formatConfigs(m.BrokerConfigs()))
	}
	for _, node := range m.ConfiguredNodes() {
		fmt.Fprintf(&out, "broker %d configs%s\n", node, formatConfigs(m.NodeConfigs(node)))
	}
	for b := range m.Brokers() {
		fmt.Fprintf(&out, "broker %d incarnation=%s epoch=%d", b.ID, shortID(TopicID(b.IncarnationID)), b.Epoch)
		for _, e := range b.Endpoints {
			fmt.Fprintf(&out, " %s://%s:%d", e.Name, e.Host, e.Port)
		}
		if b.Rack != nil {
			fmt.Fprintf(&out, " rack=%s", *b.Rack)
		}
		switch {
		case b.Fenced:
			out.WriteString(" fenced")
		case b.InControlledShutdown:
			out.WriteString(" in_controlled_shutdown")
		default:
			out.WriteString(" active")
		}
		if len(b.OfflineDirs) > 0 {
			fmt.Fprintf(&out, " offline_dirs=%d", len(b.OfflineDirs))
		}
		out.WriteString("\n")
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
	if out.Len() == 0 {
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
		formatClusterResponse(&out, resp, result)
	}
	return out.String()
}

// formatClusterResponse prints the answers to the brokers' and the
// cluster admin requests.
func formatClusterResponse(out *strings.Builder, resp kmsg.Response, result func(string, int16, *string)) {
	switch r := resp.(type) {
	case *kmsg.BrokerRegistrationResponse:
		result("BrokerRegistration", r.ErrorCode, nil)
		if r.ErrorCode == 0 {
			fmt.Fprintf(out, " broker_epoch=%d", r.BrokerEpoch)
		}
		out.WriteString("\n")
	case *kmsg.BrokerHeartbeatResponse:
		result("BrokerHeartbeat", r.ErrorCode, nil)
		if r.ErrorCode == 0 {
			fmt.Fprintf(out, " caught_up=%t fenced=%t should_shutdown=%t", r.IsCaughtUp, r.IsFenced, r.ShouldShutdown)
		}
		out.WriteString("\n")
	case *kmsg.UnregisterBrokerResponse:
		result("UnregisterBroker", r.ErrorCode, r.ErrorMessage)
		out.WriteString("\n")
	case *kmsg.AlterPartitionResponse:
		if r.ErrorCode != 0 {
			result("AlterPartition", r.ErrorCode, nil)
			out.WriteString("\n")
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				result(fmt.Sprintf("%s-%d", t.Topic, p.Partition), p.ErrorCode, nil)
				if p.ErrorCode == 0 {
					fmt.Fprintf(out, " leader=%d leader_epoch=%d isr=%v partition_epoch=%d", p.LeaderID, p.LeaderEpoch, p.ISR, p.PartitionEpoch)
				}
				out.WriteString("\n")
			}
		}
	case *kmsg.ElectLeadersResponse:
		if r.ErrorCode != 0 {
			result("ElectLeaders", r.ErrorCode, nil)
			out.WriteString("\n")
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				result(fmt.Sprintf("%s-%d", t.Topic, p.Partition), p.ErrorCode, p.ErrorMessage)
				out.WriteString("\n")
			}
		}
	case *kmsg.AlterPartitionAssignmentsResponse:
		if r.ErrorCode != 0 {
			result("AlterPartitionReassignments", r.ErrorCode, r.ErrorMessage)
			out.WriteString("\n")
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				result(fmt.Sprintf("%s-%d", t.Topic, p.Partition), p.ErrorCode, p.ErrorMessage)
				out.WriteString("\n")
			}
		}
	case *kmsg.UpdateFeaturesResponse:
		result("UpdateFeatures", r.ErrorCode, r.ErrorMessage)
		out.WriteString("\n")
		for _, res := range r.Results {
			result("  "+res.Feature, res.ErrorCode, nil)
			out.WriteString("\n")
		}
	case *kmsg.AllocateProducerIDsResponse:
		result("AllocateProducerIDs", r.ErrorCode, nil)
		if r.ErrorCode == 0 {
			fmt.Fprintf(out, " start=%d len=%d", r.ProducerIDStart, r.ProducerIDLen)
		}
		out.WriteString("\n")
	case *kmsg.ListPartitionReassignmentsResponse:
		if r.ErrorCode != 0 {
			result("ListPartitionReassignments", r.ErrorCode, r.ErrorMessage)
			out.WriteString("\n")
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(out, "reassigning %s-%d replicas=%v adding=%v removing=%v\n", t.Topic, p.Partition, p.Replicas, p.AddingReplicas, p.RemovingReplicas)
			}
		}
		if len(r.Topics) == 0 && r.ErrorCode == 0 {
			out.WriteString("no reassignments\n")
		}
	default:
		fmt.Fprintf(out, "%T\n", resp)
	}
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
